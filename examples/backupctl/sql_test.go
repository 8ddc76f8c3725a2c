package main

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/sqltenant"
)

// tenantRows returns tenant's invoices as "id:amount" in id order.
func tenantRows(t *testing.T, db *sql.DB, tenant string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT id || ':' || amount FROM invoices WHERE tenant_id = ? ORDER BY id`, tenant)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestSQLTenantBackupAndMergeRestore: backupctl backs up one tenant's rows
// of a shared SQLite database (--sql, --layout tenant-column:tenant_id),
// and a merge restore brings back the rows the tenant lost while leaving
// its newer change and the other tenant's rows as they are.
func TestSQLTenantBackupAndMergeRestore(t *testing.T) {
	dir := t.TempDir()
	store := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	path := filepath.Join(dir, "app.db")
	db, err := sqltenant.OpenSQLite(path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE invoices (tenant_id TEXT NOT NULL, id INTEGER NOT NULL, amount INTEGER, updated_at TEXT, PRIMARY KEY (tenant_id, id));
		INSERT INTO invoices VALUES ('acme', 1, 100, '2026-01-01'), ('acme', 2, 200, '2026-01-01'), ('acme', 3, 300, '2026-01-01'), ('globex', 1, 999, '2026-01-01');`)
	require.NoError(t, err)
	t.Setenv("STEWARD_PASSPHRASE", "pw")
	sqlURL := "sqlite:" + path

	_, err = run(t, "--store", store, "backup", "--tenant", "acme", "--source", dir, "--sql", sqlURL)
	require.ErrorContains(t, err, "either --source DIR or --sql URL")
	_, err = run(t, "--store", store, "backup", "--tenant", "acme", "--sql", sqlURL, "--layout", "sideways")
	require.ErrorContains(t, err, `--layout "sideways"`)

	_, err = run(t, "--store", store, "backup", "--tenant", "acme", "--sql", sqlURL, "--layout", "tenant-column:tenant_id", "--full")
	require.NoError(t, err)

	_, err = db.Exec(`DELETE FROM invoices WHERE tenant_id = 'acme' AND id IN (1, 2);
		UPDATE invoices SET amount = 301, updated_at = '2026-02-01' WHERE tenant_id = 'acme' AND id = 3;
		UPDATE invoices SET amount = 1000 WHERE tenant_id = 'globex';`)
	require.NoError(t, err)

	out, err := run(t, "--store", store, "restore", "--tenant", "acme", "--sql", sqlURL, "--mode", "merge")
	require.NoError(t, err, out)
	require.Contains(t, out, "merged     invoices: 2 inserted, 0 updated, 1 kept, 0 deleted")
	require.Equal(t, []string{"1:100", "2:200", "3:301"}, tenantRows(t, db, "acme"), "lost rows back, the newer change kept")
	require.Equal(t, []string{"1:1000"}, tenantRows(t, db, "globex"), "the other tenant untouched")
}
