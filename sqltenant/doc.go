// Package sqltenant backs up a tenant's rows in a SQL database and
// restores them: a Source that implements backup.Source and a Target that
// implements restore.Target (and restore.Committer), so that incremental
// backups, deduplication, encryption, the catalog, retention, validation
// and drills work on database tenants as they do on directories.
//
// # Engines
//
// A DB wraps one engine behind a small unexported interface (dialect.go):
// SQLite through modernc.org/sqlite and database/sql (SQLite), and the
// place where a PostgreSQL dialect (pgx, COPY) plugs in. Everything else
// — layouts, the row encoding, the metadata module, table order,
// schema-compatibility checks, merge reports — is shared.
//
// # Layouts
//
// Options.TenantColumn set: shared tables, every table discovered from
// the catalog holding the tenant's rows in that column, except tables
// Options.Exclude names (reference tables) and tables reaching the tenant
// through a join, whose rows Options.Filters selects. Unset: a database
// per tenant (with SQLite, a file per tenant), every table the tenant's.
// Tenant IDs are always bound as parameters; table and column names are
// checked (letters, digits, '_', '$', '-') and quoted.
//
// # What a snapshot holds
//
// One module per table, "<table>/rows", holding the table's rows in
// primary-key order in the row encoding (value.go): a header naming the
// columns, then each row's values tagged NULL, integer, float (bit for
// bit), text or blob, then an end with the row count. The encoding is
// deterministic and exact — NULL is not empty text, a blob is not text, a
// float's bits and a text's bytes (unicode, JSON, numerics and
// timestamps with their zones, as the engine stores them) come back
// unchanged — so an unchanged table stores the same bytes and
// deduplicates between backups. Table files have backup.SizeUnknown: a
// backup always reads them.
//
// And the metadata module, SchemaModule ("~schema/schema.json"), always:
// a Schema with the engine and its version, the layout, the migration
// version (from the release migrator's table, when present), and per
// table its columns and types, primary key, foreign keys, row count,
// SHA-256 of its rows file, greatest updated-at, and (PostgreSQL) the
// values of the sequences behind its serial and identity columns,
// tables in parent first order. It sorts after every table so that a backup reads it
// last, when the counts and sums are known.
//
// A Source reads every table in one read transaction: the snapshot is
// consistent across tables. Close it when the backup is done (it also
// ends once every file it listed has been read).
//
// # Restores
//
// A Target spools what a restore writes (to temporary files: memory stays
// bounded) and applies it in Commit, in one transaction: the schema
// checked first (every backed-up column present with a compatible type,
// extra target columns nullable or defaulted, no backup at a migration
// the target lacks: ErrMissingTable, ErrMissingColumn,
// ErrIncompatibleType, ErrRequiredColumn, ErrNewerMigrations); then a
// full or selective restore deletes the tenant's rows of the restored
// tables, children first, and loads the backup's, parents first. On
// PostgreSQL it does so in place where the target's tables have the
// backup's columns: each table's rows are copied into a temporary table
// and compared with the tenant's in one join, value for value (by text
// where the type's equality would call 1.0 and 1.00 equal); rows that
// differ are updated and missing ones inserted, parents first, then the
// rows the backup lacks deleted, children first; identical rows are not
// written at all (no index entry, no foreign-key check). The counts say
// which rows were inserted, updated, kept and deleted. Should a unique
// value move between rows so that this order cannot take it, the
// restore rolls back to a savepoint and deletes and loads instead. A
// full restore into the empty tables of a schema or database of the
// tenant's own (a disaster recovery into emptied or newly migrated
// tables) loads them as pg_restore does, still in its one transaction:
// the foreign keys that touch them, their primary keys, unique
// constraints and other indexes are dropped, the tables truncated, the
// rows copied straight in, then the indexes built and the keys added
// back, each foreign key checking every row in one join rather than one
// probe a row. The tables are locked (ACCESS EXCLUSIVE) until the commit.
// It is not done, and rows are loaded one by one, when a table holds a
// row, the role does not own every table involved, a table has a
// trigger or row security, or dropping a key or index would lose
// something (a comment, a dependent view, a tablespace). A merge
// inserts missing rows and, by Options.Merge, keeps newer rows by the
// table's timestamp column, keeps every existing row, or overwrites;
// it deletes nothing. Foreign keys are checked before the commit; any
// error rolls back and the database is as it was. Other tenants' rows
// are never touched: deletes and merge look-ups select the tenant's rows
// only, and after each table's load the tenant must hold exactly the
// rows it held plus those inserted (ErrMismatch otherwise, as for a
// backup whose rows name another tenant; PostgreSQL's staged loads check
// instead, before writing, that every staged row matches the tenant's
// predicate, and learn the count from their classifying join, which
// saves two counts of the tenant's rows per table). The counts of rows inserted,
// updated, kept and deleted per table come back as the restore's
// Report.Outcomes.
//
// A Selective restore names tables and SchemaModule (Select). It is
// refused when the engine would delete or change rows of tables it does
// not restore through ON DELETE actions (ErrCascade), and fails with
// ErrForeignKey when rows of other tables reference rows the restore
// removes. A Full restore clears the tenant's rows from tables the
// snapshot lacks only with restore.Options.AllowDelete (the restore
// package's ErrWouldDelete otherwise). A safety backup
// (restore.Options.SafetyBackup) reads the tenant's current rows through
// the Target; a dry run's plan has one decision per table.
//
// # Checks and drills
//
// ReadSchema decodes a snapshot's metadata file; Target.Compatible tells,
// changing nothing, every reason a restore of it would be refused. A
// full or selective restore reads each table it loaded back inside its
// transaction and commits only if it encodes to the backup's row count
// and SHA-256 (Options.SkipVerify leaves that out). A drill restores a
// SQLite snapshot into ScratchSQLite's new file with the Schema's own
// Options, its references checked, without touching the live database.
package sqltenant
