package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iluxsys/steward/storage"
)

// LockInfo describes a lock object RemoveLocks deleted.
type LockInfo struct {
	// Key is the lock's object key within the repository.
	Key string `json:"key"`
	// Owner, Host, PID, Exclusive, Created and Refreshed are what the
	// lock recorded (Host and PID only when its writer recorded them);
	// all are zero when Unreadable.
	Owner     string    `json:"owner"`
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Exclusive bool      `json:"exclusive"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`
	// Stale reports whether the lock had gone stale (not refreshed for
	// StaleAfter): its holder is dead. A live lock is removed only when
	// forced.
	Stale bool `json:"stale"`
	// Unreadable marks an object that is no lock at all (it does not
	// decode): Lock ignores it, and RemoveLocks removes it as stale.
	Unreadable bool `json:"unreadable,omitempty"`
}

// RemoveLocks deletes the stale lock objects of the repository (those not
// refreshed for StaleAfter by now, and unreadable ones), or every lock
// object when force is set, and returns what it deleted, in key order.
// Forcing removes the locks of live processes too: a backup or prune still
// running loses its protection, so force only when the holder is known
// dead. A lock that disappears meanwhile (released) is skipped. On an
// error the locks already removed are returned with it.
func (r *Repo) RemoveLocks(ctx context.Context, force bool, now time.Time) ([]LockInfo, error) {
	keys, err := r.listKeys(ctx, r.prefix+"locks/")
	if err != nil {
		return nil, err
	}
	var removed []LockInfo
	for _, key := range keys {
		info, err := r.readLock(ctx, key, now)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return removed, err
		}
		if !info.Stale && !force {
			continue
		}
		if err := r.store.Delete(ctx, key); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			return removed, fmt.Errorf("remove lock %q: %w", key, err)
		}
		removed = append(removed, info)
	}
	return removed, nil
}

// readLock reads the lock object at key; one that does not decode is
// Unreadable and Stale.
func (r *Repo) readLock(ctx context.Context, key string, now time.Time) (LockInfo, error) {
	info := LockInfo{Key: strings.TrimPrefix(key, r.prefix)}
	b, err := readObject(ctx, r.store, key, maxSmallObject)
	if errors.Is(err, ErrCorrupt) {
		info.Unreadable, info.Stale = true, true
		return info, nil
	}
	if err != nil {
		return info, err
	}
	var body lockBody
	if json.Unmarshal(b, &body) != nil {
		info.Unreadable, info.Stale = true, true
		return info, nil
	}
	info.Owner, info.Host, info.PID, info.Exclusive = body.Owner, body.Host, body.PID, body.Exclusive
	info.Created, info.Refreshed = body.Created, body.Refreshed
	info.Stale = now.Sub(body.Refreshed) > StaleAfter
	return info, nil
}
