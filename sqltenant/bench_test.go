package sqltenant_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
)

// benchUsers makes a tenant of 7 rows per user across five tables
// (users, projects, two tasks, an order and two items), beside another
// tenant a fifth its size.
const benchUsers = 10000

func benchRows() int { return 7 * benchUsers }

// BenchmarkBackup backs a tenant up in full (each table read and
// encoded, chunked, hashed and stored) and reports rows per second.
func BenchmarkBackup(b *testing.B) {
	db := openDB(b, b.TempDir(), "app.db")
	seed(b, db, "acme", benchUsers, 0)
	seed(b, db, "globex", benchUsers/5, 10*benchUsers)
	e, _, _ := newEngine(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		backupTenant(b, e, db, "acme", backup.Full)
	}
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRestore restores a tenant in full into a database where it
// and another tenant live: one transaction deleting the tenant's rows and
// loading them again with foreign keys enforced.
func BenchmarkRestore(b *testing.B) {
	dir := b.TempDir()
	db := openDB(b, dir, "app.db")
	seed(b, db, "acme", benchUsers, 0)
	seed(b, db, "globex", benchUsers/5, 10*benchUsers)
	e, r, _ := newEngine(b)
	snap := backupTenant(b, e, db, "acme", backup.Full)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := restoreInto(b, r, db, "acme", snap.ID, nil, &restore.Options{Mode: restore.Full})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMerge merge-restores the same tenant over itself (every row
// looked up, compared by updated_at, kept).
func BenchmarkMerge(b *testing.B) {
	dir := b.TempDir()
	db := openDB(b, dir, "app.db")
	seed(b, db, "acme", benchUsers, 0)
	e, r, _ := newEngine(b)
	snap := backupTenant(b, e, db, "acme", backup.Full)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := restoreInto(b, r, db, "acme", snap.ID, nil, &restore.Options{Mode: restore.Merge})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
}
