package backup_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/storage"
)

// failOpen fails to open one path.
type failOpen struct {
	backup.Source
	path string
}

func (f failOpen) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if p == f.path {
		return nil, errors.New("disk on fire")
	}
	return f.Source.Open(ctx, p)
}

func TestAuditEventsOnSuccessAndFailure(t *testing.T) {
	var mu sync.Mutex
	var events []audit.Event
	aud := audit.AuditorFunc(func(_ context.Context, ev audit.Event) error {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		return nil
	})
	store := storage.NewMemory()
	e, err := backup.New(store, &backup.Config{Auditor: aud})
	require.NoError(t, err)
	fsys := sampleFS(5, 2)
	snap, err := e.Backup(master(), "acme", backup.FSSource(fsys), &backup.Options{Type: backup.Full})
	require.NoError(t, err)
	_, err = e.Backup(master(), "acme", failOpen{backup.FSSource(fsys), "m1/f001.bin"}, &backup.Options{Type: backup.Full, FailFast: true})
	require.ErrorContains(t, err, "disk on fire")

	require.Len(t, events, 2)
	ok, failed := events[0], events[1]
	require.Equal(t, audit.TypeBackupCreated, ok.Type)
	require.Equal(t, "ops", ok.UserID)
	require.Equal(t, "acme", ok.Tenant)
	require.Equal(t, snap.ID, ok.Data[audit.DataSnapshotID])
	require.Equal(t, snap.Metadata.FileCount, ok.Data[audit.DataFileCount])
	require.Equal(t, audit.TypeBackupFailed, failed.Type)
	require.Equal(t, audit.LevelError, failed.Level)
	require.Equal(t, "ops", failed.UserID)
	require.Contains(t, failed.Data[audit.DataError], "disk on fire")

	cat, err := e.Catalog(master(), "acme")
	require.NoError(t, err)
	require.Len(t, cat, 1, "the failed backup left no snapshot")
}
