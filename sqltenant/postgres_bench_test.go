package sqltenant_test

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/sqltenant"
)

// pgBenchSchema is three tables with foreign keys and secondary indexes,
// shared by five tenants.
const pgBenchSchema = `
CREATE TABLE accounts (tenant_id text NOT NULL, id bigint NOT NULL, name text NOT NULL, email text, settings jsonb,
	created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE INDEX ON accounts (tenant_id, email);
CREATE TABLE projects (tenant_id text NOT NULL, id bigint NOT NULL, account_id bigint NOT NULL, title text NOT NULL,
	budget numeric(14,2), updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id));
CREATE INDEX ON projects (tenant_id, account_id);
CREATE TABLE tasks (tenant_id text NOT NULL, project_id bigint NOT NULL, seq integer NOT NULL, body text, done boolean NOT NULL,
	due date, PRIMARY KEY (tenant_id, project_id, seq),
	FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id));
CREATE INDEX ON tasks (tenant_id, due);
`

// pgBenchRows is the benchmark tenant's row count
// (STEWARD_PG_BENCH_ROWS, default 200,000): a tenth accounts, a tenth
// projects, the rest tasks; four other tenants hold as many each.
func pgBenchRows(b *testing.B) int {
	n := 200_000
	if s := os.Getenv("STEWARD_PG_BENCH_ROWS"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(b, err, "STEWARD_PG_BENCH_ROWS")
	}
	return n / 10 * 10
}

// pgBenchDatabase seeds five tenants of n rows each and returns the pool.
func pgBenchDatabase(b *testing.B, n int) *pgxpool.Pool {
	pool := pgtest.DB(b)
	pgExec(b, pool, pgBenchSchema)
	for _, tenant := range []string{"acme", "globex", "initech", "umbrella", "hooli"} {
		pgExec(b, pool, `INSERT INTO accounts SELECT $1, i, 'account ' || i, 'a' || i || '@example.com',
			jsonb_build_object('plan', 'pro', 'seats', i % 50), '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second',
			'2026-02-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, $2::int) i`, tenant, n/10)
		pgExec(b, pool, `INSERT INTO projects SELECT $1, i, (i - 1) % $2 + 1, 'project ' || i || ' — naïve',
			i * 10.25, '2026-03-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, $2::int) i`, tenant, n/10)
		pgExec(b, pool, `INSERT INTO tasks SELECT $1, (i - 1) % $2 + 1, (i - 1) / $2 + 1, 'task ' || i, i % 3 = 0,
			'2026-01-01'::date + i % 365 FROM generate_series(1, $3::int) i`, tenant, n/10, n-n/5)
	}
	pgExec(b, pool, `ANALYZE`)
	return pool
}

func pgBenchOptions() *sqltenant.Options { return &sqltenant.Options{TenantColumn: "tenant_id"} }

// BenchmarkPostgresBackup reads one tenant's rows out of tables shared
// with four others, on one connection: the Source alone (COPY, decoding,
// the row encoding and its SHA-256, discarded), and a full backup into a
// file store (chunking, compression, packs).
func BenchmarkPostgresBackup(b *testing.B) {
	n := pgBenchRows(b)
	pool := pgBenchDatabase(b, n)
	db := pgDB(b, pool, nil)
	b.Run("source", func(b *testing.B) {
		for b.Loop() {
			src, err := db.Source("acme", pgBenchOptions())
			require.NoError(b, err)
			pgDrain(b, src)
			require.NoError(b, src.Close())
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("raw-copy", func(b *testing.B) { // the server's part alone: the floor
		for b.Loop() {
			for _, table := range pgBenchTables {
				pgRawCopyOut(b, pool, table, io.Discard)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("engine", func(b *testing.B) {
		e, _, _ := newEngine(b)
		for b.Loop() {
			pgBackup(b, e, db, "acme", pgBenchOptions())
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// pgBenchTables are pgBenchSchema's tables, parents first.
var pgBenchTables = []string{"accounts", "projects", "tasks"}

// pgRawCopyOut writes acme's rows of table to w with a plain COPY TO.
func pgRawCopyOut(b *testing.B, pool *pgxpool.Pool, table string, w io.Writer) {
	c, err := pool.Acquire(master())
	require.NoError(b, err)
	defer c.Release()
	q := "COPY (SELECT * FROM " + table + " WHERE tenant_id = 'acme' ORDER BY 1, 2, 3) TO STDOUT"
	_, err = c.Conn().PgConn().CopyTo(master(), w, q)
	require.NoError(b, err)
}

// pgRawRestore is what a full restore of acme costs the server alone:
// in one transaction, acme's rows deleted children first and loaded
// again parents first with plain COPY FROM (foreign keys checked), then
// rolled back.
func pgRawRestore(b *testing.B, pool *pgxpool.Pool, data map[string][]byte) {
	tx, err := pool.Begin(master())
	require.NoError(b, err)
	defer tx.Rollback(master())
	for i := len(pgBenchTables) - 1; i >= 0; i-- {
		_, err := tx.Exec(master(), "DELETE FROM "+pgBenchTables[i]+" WHERE tenant_id = 'acme'")
		require.NoError(b, err)
	}
	for _, table := range pgBenchTables {
		_, err := tx.Conn().PgConn().CopyFrom(master(), bytes.NewReader(data[table]), "COPY "+table+" FROM STDIN")
		require.NoError(b, err)
	}
}

// pgDrain reads every file of src to the end.
func pgDrain(b *testing.B, src backup.Source) {
	var paths []string
	require.NoError(b, src.Walk(master(), func(e backup.Entry) error {
		if e.Mode.IsRegular() {
			paths = append(paths, e.Path)
		}
		return nil
	}))
	for _, p := range paths {
		r, err := src.Open(master(), p)
		require.NoError(b, err)
		_, err = io.Copy(io.Discard, r)
		require.NoError(b, err)
		require.NoError(b, r.Close())
	}
}

// BenchmarkPostgresRestore restores one tenant in full (its rows deleted,
// then loaded with every foreign key checked, in one transaction) and
// merges it (keep-newer, every row present: compared and kept).
func BenchmarkPostgresRestore(b *testing.B) {
	n := pgBenchRows(b)
	pool := pgBenchDatabase(b, n)
	db := pgDB(b, pool, nil)
	e, r, _ := newEngine(b)
	snap := pgBackup(b, e, db, "acme", pgBenchOptions())
	b.Run("raw-copy", func(b *testing.B) { // the server's part alone: the floor
		data := map[string][]byte{}
		for _, table := range pgBenchTables {
			var buf bytes.Buffer
			pgRawCopyOut(b, pool, table, &buf)
			data[table] = buf.Bytes()
		}
		for b.Loop() {
			pgRawRestore(b, pool, data)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	for _, mode := range []restore.Mode{restore.Full, restore.Merge} {
		b.Run(string(mode), func(b *testing.B) {
			for b.Loop() {
				_, err := pgRestore(b, r, db, "acme", snap.ID, pgBenchOptions(), &restore.Options{Mode: mode})
				require.NoError(b, err)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
