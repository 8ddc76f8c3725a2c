package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/iluxsys/steward/storage"
)

// Lock protocol. A lock is an object "<prefix>locks/<random>" holding who
// took it (an owner string, the host and the PID), whether it is exclusive
// and when it was last refreshed. To take
// one, a process writes its object (IfNotExist), then lists the others:
// a shared lock yields to any live exclusive lock, an exclusive lock to any
// live lock at all; yielding deletes its own object and returns a
// *LockedError (ErrLocked) naming the holder.
// Two processes racing both see each other and both yield — never both
// win. A holder rewrites its object every StaleAfter/3; a lock not
// refreshed for StaleAfter is stale and ignored (its holder died), and
// RemoveLocks deletes it. Backups hold shared locks; prune and RepairIndex
// hold the exclusive one.

// StaleAfter is how long an unrefreshed lock still counts.
const StaleAfter = 5 * time.Minute

type lockBody struct {
	Owner     string    `json:"owner"`
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Exclusive bool      `json:"exclusive"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`
}

// LockedError is the error of a lock refused because another is held; it
// matches ErrLocked. Its message says who holds the lock and when it goes
// stale.
type LockedError struct {
	// Key is the held lock's object key (within the repository).
	Key string
	// Owner says what holds the lock ("prune by alice"); Host and PID the
	// process, when the lock records them (locks written by older builds
	// do not).
	Owner string
	Host  string
	PID   int
	// Exclusive is the held lock's kind.
	Exclusive bool
	// Created is when it was taken; StaleAt when it goes stale unless its
	// holder refreshes it first (its last refresh plus StaleAfter).
	Created, StaleAt time.Time
}

// Error says who holds the lock, since when, and when it goes stale.
func (e *LockedError) Error() string {
	kind := "shared"
	if e.Exclusive {
		kind = "exclusive"
	}
	who := fmt.Sprintf("%q", e.Owner)
	switch {
	case e.Host != "" && e.PID != 0:
		who += fmt.Sprintf(" (host %s, pid %d)", e.Host, e.PID)
	case e.PID != 0:
		who += fmt.Sprintf(" (pid %d)", e.PID)
	case e.Host != "":
		who += fmt.Sprintf(" (host %s)", e.Host)
	}
	return fmt.Sprintf("%v: %s lock %s held by %s since %s; it goes stale at %s unless its holder refreshes it; if that process is dead, remove the lock with Engine.Unlock (backupctl unlock)",
		ErrLocked, kind, e.Key, who, e.Created.Format(time.RFC3339), e.StaleAt.Format(time.RFC3339))
}

// Is makes LockedError match ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a held repository lock.
type Lock struct {
	r    *Repo
	key  string
	body lockBody
	now  func() time.Time

	stop chan struct{}
	done sync.WaitGroup
}

// Lock takes a shared or exclusive lock. now is the clock (stale checks and
// refresh stamps); the lock is refreshed in the background until Unlock.
// A conflicting live lock is a *LockedError (matching ErrLocked) that
// names its holder and when it goes stale.
func (r *Repo) Lock(ctx context.Context, exclusive bool, owner string, now func() time.Time) (*Lock, error) {
	l := &Lock{r: r, key: r.prefix + "locks/" + randomHex(16), now: now, stop: make(chan struct{})}
	t := now().UTC()
	host, _ := os.Hostname()
	l.body = lockBody{Owner: owner, Host: host, PID: os.Getpid(), Exclusive: exclusive, Created: t, Refreshed: t}
	b, _ := json.Marshal(l.body)
	if err := storage.PutBytes(ctx, r.store, l.key, b, &storage.PutOptions{IfNotExist: true}); err != nil {
		return nil, fmt.Errorf("take lock: %w", err)
	}
	for key, err := range storage.ListKeys(ctx, r.store, r.prefix+"locks/") {
		if err != nil {
			_ = r.store.Delete(context.WithoutCancel(ctx), l.key)
			return nil, err
		}
		if key == l.key {
			continue
		}
		ob, err := readObject(ctx, r.store, key, maxSmallObject)
		if errors.Is(err, storage.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			_ = r.store.Delete(context.WithoutCancel(ctx), l.key)
			return nil, err
		}
		var other lockBody
		if json.Unmarshal(ob, &other) != nil {
			continue // unreadable: treat as garbage
		}
		if now().Sub(other.Refreshed) > StaleAfter {
			continue
		}
		if exclusive || other.Exclusive {
			_ = r.store.Delete(context.WithoutCancel(ctx), l.key)
			return nil, other.lockedError(strings.TrimPrefix(key, r.prefix))
		}
	}
	l.done.Add(1)
	go l.refresh()
	return l, nil
}

func (b lockBody) lockedError(key string) *LockedError {
	return &LockedError{Key: key, Owner: b.Owner, Host: b.Host, PID: b.PID, Exclusive: b.Exclusive, Created: b.Created, StaleAt: b.Refreshed.Add(StaleAfter)}
}

func (l *Lock) refresh() {
	defer l.done.Done()
	t := time.NewTicker(StaleAfter / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.body.Refreshed = l.now().UTC()
			b, _ := json.Marshal(l.body)
			_ = storage.PutBytes(context.Background(), l.r.store, l.key, b, nil)
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	close(l.stop)
	l.done.Wait()
	// A lock left behind blocks others until it goes stale, so try a few
	// times before giving up.
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		err = l.r.store.Delete(context.WithoutCancel(ctx), l.key)
		if err == nil || errors.Is(err, storage.ErrNotFound) {
			return nil
		}
	}
	return fmt.Errorf("release lock %s: %w (it goes stale after %s)", l.key, err, StaleAfter)
}
