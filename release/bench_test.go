package release_test

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// BenchmarkActive measures deriving the active release from a log of 200
// releases and 200 deployments.
func BenchmarkActive(b *testing.B) {
	ctx := master()
	store := storage.NewMemory()
	e, _ := backup.New(store, nil)
	m, _ := release.NewManager(store, &release.Config{Engine: e})
	art := backup.FSSource(fstest.MapFS{"a": {Data: []byte("x")}})
	for i := range 200 {
		r, err := m.Create(ctx, release.Spec{Channel: "prod", Version: fmt.Sprintf("1.%d.0", i), Artifact: art})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Deploy(ctx, r.ID, &release.DeployOptions{SkipSafetyBackup: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Active(ctx, "prod"); err != nil {
			b.Fatal(err)
		}
	}
}
