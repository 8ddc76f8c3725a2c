package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/iluxsys/steward/storage"
)

// Lock protocol. A lock is an object "<prefix>locks/<random>" holding who
// took it, whether it is exclusive and when it was last refreshed. To take
// one, a process writes its object (IfNotExist), then lists the others:
// a shared lock yields to any live exclusive lock, an exclusive lock to any
// live lock at all; yielding deletes its own object and returns ErrLocked.
// Two processes racing both see each other and both yield — never both
// win. A holder rewrites its object every StaleAfter/3; a lock not
// refreshed for StaleAfter is stale and ignored (its holder died).
// Backups hold shared locks; prune holds the exclusive one.

// StaleAfter is how long an unrefreshed lock still counts.
const StaleAfter = 5 * time.Minute

type lockBody struct {
	Owner     string    `json:"owner"`
	Exclusive bool      `json:"exclusive"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`
}

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
func (r *Repo) Lock(ctx context.Context, exclusive bool, owner string, now func() time.Time) (*Lock, error) {
	l := &Lock{r: r, key: r.prefix + "locks/" + randomHex(16), now: now, stop: make(chan struct{})}
	t := now().UTC()
	l.body = lockBody{Owner: owner, Exclusive: exclusive, Created: t, Refreshed: t}
	b, _ := json.Marshal(l.body)
	if err := storage.PutBytes(ctx, r.store, l.key, b, &storage.PutOptions{IfNotExist: true}); err != nil {
		return nil, fmt.Errorf("take lock: %w", err)
	}
	for oi, err := range r.store.List(ctx, r.prefix+"locks/") {
		if err != nil {
			_ = r.store.Delete(context.WithoutCancel(ctx), l.key)
			return nil, err
		}
		if oi.Key == l.key {
			continue
		}
		ob, err := readObject(ctx, r.store, oi.Key, maxSmallObject)
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
			kind := "shared"
			if other.Exclusive {
				kind = "exclusive"
			}
			return nil, fmt.Errorf("%w: %s lock held by %q since %s (%s)", ErrLocked, kind, other.Owner, other.Created.Format(time.RFC3339), strings.TrimPrefix(oi.Key, r.prefix))
		}
	}
	l.done.Add(1)
	go l.refresh()
	return l, nil
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
