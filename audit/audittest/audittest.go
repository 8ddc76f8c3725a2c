// Package audittest is the conformance suite for audit.Auditor
// implementations: audit.Log, audit.Nop and the wrappers audit.Metered and
// audit.Notifying pass it.
package audittest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit"
)

// Run runs the suite; newAuditor returns a fresh Auditor.
func Run(t *testing.T, newAuditor func(t *testing.T) audit.Auditor) {
	t.Run("RecordsEvents", func(t *testing.T) {
		a := newAuditor(t)
		require.NoError(t, a.Record(context.Background(), audit.Event{Type: audit.TypeBackupCreated, Message: "ok", Tenant: "acme", Data: map[string]any{"k": 1}}))
	})
	t.Run("Concurrent", func(t *testing.T) {
		a := newAuditor(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 8 {
					if err := a.Record(context.Background(), audit.Event{Type: "test.event", Message: fmt.Sprintf("%d-%d", g, i)}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		a := newAuditor(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// An Auditor either records or returns the context's error; it
		// must not hang or panic.
		err := a.Record(ctx, audit.Event{Type: "test.cancelled"})
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	})
}
