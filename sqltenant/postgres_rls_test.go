package sqltenant_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/internal/pgtest"
	"github.com/iluxsys/steward/restore"
)

// pgRLSPolicies confine a role to the tenant its session names in
// app.tenant; order items follow their order.
const pgRLSPolicies = `
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users USING (tenant_id = current_setting('app.tenant'));
CREATE POLICY tenant ON projects USING (tenant_id = current_setting('app.tenant'));
CREATE POLICY tenant ON tasks USING (tenant_id = current_setting('app.tenant'));
CREATE POLICY tenant ON orders USING (tenant_id = current_setting('app.tenant'));
CREATE POLICY tenant ON order_items USING (order_id IN (SELECT id FROM orders));
`

// pgTenantRole creates a role that sees only tenant's rows of pgSchema
// under pgRLSPolicies and returns a pool whose sessions act as it. The
// role is dropped after the test (and its database).
func pgTenantRole(t *testing.T, tenant string) (admin, confined *pgxpool.Pool) {
	t.Helper()
	server := pgtest.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var canCreate bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&canCreate))
	if !canCreate {
		t.Skipf("the role of %s may not create roles (CREATEROLE), which this test needs", pgtest.EnvURL)
	}
	role := "steward_rls_" + strings.ToLower(rand.Text()[:10])
	_, err = conn.Exec(ctx, `CREATE ROLE `+role+` NOLOGIN NOINHERIT; GRANT `+role+` TO current_user`)
	require.NoError(t, err)
	t.Cleanup(func() { // after the database's drop, registered later
		c, err := pgx.Connect(context.Background(), server)
		if err == nil {
			_, err = c.Exec(context.Background(), `DROP ROLE `+role)
			c.Close(context.Background())
		}
		require.NoError(t, err)
	})
	db := pgtest.NewDatabase(t)
	admin = pgtest.Pool(t, db.URL)
	pgExec(t, admin, pgSchema+pgRLSPolicies+`
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO `+role+`;
		GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO `+role)
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, `SET ROLE `+role); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `SELECT set_config('app.tenant', $1, false)`, tenant)
		return err
	}
	confined, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(confined.Close)
	return admin, confined
}

// Under row-level security a role that sees only its tenant's rows backs
// the tenant up and restores it in full (COPY FROM being refused under
// row security, rows go through a staging table and the policies), and
// the other tenant's rows are untouched.
func TestPostgresRowLevelSecurity(t *testing.T) {
	admin, confined := pgTenantRole(t, "acme")
	pgSeed(t, admin, "acme", 10, 0)
	pgSeed(t, admin, "globex", 4, 1000)
	var visible int
	require.NoError(t, confined.QueryRow(master(), `SELECT count(DISTINCT tenant_id) FROM users`).Scan(&visible))
	require.Equal(t, 1, visible, "the confined role sees one tenant")

	db := pgDB(t, confined, nil)
	e, r, _ := newEngine(t)
	snap := pgBackup(t, e, db, "acme", appOptions())
	want, globex := pgTenantDump(t, admin, "acme"), pgTenantDump(t, admin, "globex")
	pgExec(t, admin, `DELETE FROM tasks WHERE tenant_id = 'acme' AND project_id > 5`)
	pgExec(t, admin, `UPDATE users SET name = 'changed' WHERE tenant_id = 'acme'`)

	rep, err := pgRestore(t, r, db, "acme", snap.ID, appOptions(), nil)
	require.NoError(t, err)
	require.Equal(t, restore.Outcome{Module: "tasks", Action: "replaced", Inserted: 10, Kept: 10}, outcomes(rep)["tasks"],
		"the deleted tasks inserted again, the others kept")
	require.Equal(t, restore.Outcome{Module: "users", Action: "replaced", Updated: 10}, outcomes(rep)["users"])
	require.Equal(t, want, pgTenantDump(t, admin, "acme"))
	require.Equal(t, globex, pgTenantDump(t, admin, "globex"))
}
