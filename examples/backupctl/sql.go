package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"

	"github.com/iluxsys/steward/sqltenant"
)

// sqlFlags name a tenant's rows in a SQL database, the source of a backup
// or the target of a restore, instead of a directory.
type sqlFlags struct {
	url, layout, exclude, merge string
}

// add registers the flags; merge only for restores.
func (s *sqlFlags) add(f *pflag.FlagSet, restore bool) {
	f.StringVar(&s.url, "sql", "", "a SQL database instead of a directory: sqlite:PATH or postgres://...")
	f.StringVar(&s.layout, "layout", "tenant-column:tenant_id", "with --sql: tenant-column:COLUMN (shared tables), database (the database is the tenant's) or schema:NAME (PostgreSQL: the tenant's schema)")
	f.StringVar(&s.exclude, "exclude", "", "with --sql: tables left out (reference tables), comma-separated")
	if restore {
		f.StringVar(&s.merge, "merge-rule", string(sqltenant.MergeKeepNewer), "with --sql and --mode merge: keep-newer, missing-only or overwrite")
	}
}

// set reports whether --sql was given.
func (s *sqlFlags) set() bool { return s.url != "" }

// oneOf checks that exactly one of --sql and the directory flag name was
// given.
func (s *sqlFlags) oneOf(dirFlag, dir string) error {
	if s.set() == (dir != "") {
		return &cliError{msg: fmt.Sprintf("give either --%s DIR or --sql URL", dirFlag)}
	}
	return nil
}

// open opens the database and returns it, the options of its layout, and
// a function that closes it.
func (s *sqlFlags) open(ctx context.Context) (*sqltenant.DB, *sqltenant.Options, func(), error) {
	opts := &sqltenant.Options{Merge: sqltenant.MergeRule(s.merge)}
	if s.exclude != "" {
		opts.Exclude = strings.Split(s.exclude, ",")
	}
	schema, err := s.parseLayout(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case strings.HasPrefix(s.url, "sqlite:"):
		if schema != "" {
			return nil, nil, nil, &cliError{msg: "--layout schema:NAME needs PostgreSQL"}
		}
		sdb, err := sqltenant.OpenSQLite(strings.TrimPrefix(strings.TrimPrefix(s.url, "sqlite:"), "//"))
		if err != nil {
			return nil, nil, nil, err
		}
		return sqltenant.SQLite(sdb), opts, func() { sdb.Close() }, nil
	case strings.HasPrefix(s.url, "postgres://"), strings.HasPrefix(s.url, "postgresql://"):
		pool, err := pgxpool.New(ctx, s.url)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--sql: %w", err)
		}
		db, err := sqltenant.Postgres(pool, &sqltenant.PostgresOptions{Schema: schema})
		if err != nil {
			pool.Close()
			return nil, nil, nil, err
		}
		return db, opts, pool.Close, nil
	}
	return nil, nil, nil, &cliError{msg: fmt.Sprintf("--sql %q: want sqlite:PATH or postgres://...", redactURL(s.url))}
}

// parseLayout sets opts from --layout and returns the schema it names
// ("" unless schema:NAME).
func (s *sqlFlags) parseLayout(opts *sqltenant.Options) (string, error) {
	kind, arg, _ := strings.Cut(s.layout, ":")
	switch {
	case kind == "tenant-column" && arg != "":
		opts.TenantColumn = arg
	case kind == "database" && arg == "":
	case kind == "schema" && arg != "":
		return arg, nil
	default:
		return "", &cliError{msg: fmt.Sprintf("--layout %q: want tenant-column:COLUMN, database or schema:NAME", s.layout)}
	}
	return "", nil
}

// redactURL drops a URL's credentials for messages.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "…@" + rest[at+1:]
	}
	return scheme + "://" + rest
}
