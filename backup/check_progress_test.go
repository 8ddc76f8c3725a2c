package backup_test

import (
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/fakeclock"
	"github.com/iluxsys/steward/internal/op"
	"github.com/iluxsys/steward/storage"
)

// TestCheckProgress checks that a read-data check reports the packs and
// their stored bytes as it reads them, ends on the totals (PacksRead ==
// PacksTotal, BytesDone == BytesTotal == the packs' stored size) and
// reports at most every ProgressInterval of the Engine's clock.
func TestCheckProgress(t *testing.T) {
	ctx := master()
	store := storage.NewMemory()
	clock := fakeclock.New(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
	e, err := backup.New(store, &backup.Config{Clock: clock})
	require.NoError(t, err)
	fsys := fstest.MapFS{}
	for i := range 4 { // each backup uploads packs of its own
		fsys[fmt.Sprintf("m/f%d.bin", i)] = &fstest.MapFile{Data: randBytes(uint64(40+i), 50_000), Mode: 0o644}
		_, err := e.Backup(ctx, "acme", backup.FSSource(fsys), nil)
		require.NoError(t, err)
		clock.Advance(time.Hour)
	}
	var packBytes int64
	var packs int
	for oi, err := range store.List(ctx, "tenants/acme/packs/") {
		require.NoError(t, err)
		packBytes += oi.Size
		packs++
	}
	require.GreaterOrEqual(t, packs, 4, "got %d packs, want one per backup at least", packs)

	for _, tc := range []struct {
		name    string
		opts    backup.CheckOptions
		advance bool // the clock moves ProgressInterval at each report
		want    int  // reports; -1: the first, then one per pack read
	}{
		{"read data, clock moving", backup.CheckOptions{ReadData: true}, true, -1},
		{"read data, clock still: first and last only", backup.CheckOptions{ReadData: true}, false, 2},
		{"whole subset, clock moving", backup.CheckOptions{ReadDataSubset: "100%"}, true, -1},
		{"half subset, clock moving", backup.CheckOptions{ReadDataSubset: "1/2"}, true, -1},
		{"structure only: nothing read, nothing reported", backup.CheckOptions{}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []backup.Progress
			tc.opts.Progress = func(p backup.Progress) {
				got = append(got, p)
				if tc.advance {
					clock.Advance(op.ProgressInterval)
				}
			}
			chk, err := e.Check(ctx, "acme", &tc.opts)
			require.NoError(t, err)
			require.True(t, chk.OK(), "problems: %v", chk.Problems)
			want := tc.want
			if want < 0 && chk.PacksRead > 0 {
				want = chk.PacksRead + 1
			} else if want < 0 {
				want = 0 // a subset that chose no pack reads nothing
			}
			require.Len(t, got, want, "got reports %+v", got)
			if want == 0 {
				return
			}
			total, bytes := int64(chk.PacksRead), got[0].BytesTotal
			if tc.opts.ReadData || tc.opts.ReadDataSubset == "100%" {
				require.Equal(t, int64(packs), total, "check read %d packs, want every one of %d", total, packs)
				require.Equal(t, packBytes, bytes, "bytes total %d, want the packs' %d", bytes, packBytes)
			}
			require.LessOrEqual(t, bytes, packBytes)
			require.Equal(t, backup.Progress{PacksTotal: total, BytesTotal: bytes}, got[0], "first report")
			for i := 1; i < len(got); i++ {
				require.Equal(t, total, got[i].PacksTotal)
				require.Equal(t, bytes, got[i].BytesTotal)
				require.Greater(t, got[i].PacksRead, got[i-1].PacksRead, "report %d: packs read went from %d to %d", i, got[i-1].PacksRead, got[i].PacksRead)
				require.Greater(t, got[i].BytesDone, got[i-1].BytesDone, "report %d: bytes done went from %d to %d", i, got[i-1].BytesDone, got[i].BytesDone)
			}
			last := got[len(got)-1]
			require.Equal(t, backup.Progress{PacksRead: total, PacksTotal: total, BytesDone: bytes, BytesTotal: bytes}, last, "last report")
		})
	}
}
