#!/usr/bin/env bash
# Side-by-side timing of steward (examples/backupctl --sql) on a SQL tenant
# and PostgreSQL's own tools, in one run on one database. Needs hyperfine,
# psql, pg_dump and pg_restore (PGBIN, default /usr/lib/postgresql/15/bin),
# and a server: STEWARD_PG_URL, a connection string whose role may create
# databases (the script makes and drops the database BENCH_DB, default
# steward_sqlbench).
#
#   STEWARD_PG_URL=postgres://... bench/sql.sh [WORKDIR]
#   ROWS=200000 RUNS=2 bench/sql.sh     # a smaller tenant, fewer runs
#   SKIP_EMPTY=1 bench/sql.sh           # without the restores into emptied tables
#   KEEP_DB=1 bench/sql.sh; REUSE=1 bench/sql.sh  # keep the seeded database, and
#                                       # reuse it (same ROWS) instead of seeding again
#
# The dataset: three tables (accounts <- projects <- tasks, a tenth, a
# tenth and eight tenths of the rows) with composite primary keys, foreign
# keys, an index on every foreign key's columns and one more secondary
# index each; tenant acme holds ROWS rows (default 1,000,000) in tables it
# shares with four other tenants of as many rows; and the same rows of acme
# in a schema of its own, acme_s, with the same tables and keys.
#
# What is timed (hyperfine means over RUNS, default 3):
#   shared tables: plain COPY TO of acme's rows (the floor), steward's full
#   backup, steward's full restore over acme's rows as they are (what a
#   restore writes is only what differs), steward's full restore into the
#   tables with acme's rows deleted (every row inserted, every foreign key
#   checked), steward's keep-newer merge;
#   schema acme_s: steward's full backup against pg_dump -Fc -n acme_s,
#   steward's full restore against pg_restore -n acme_s --clean (which drops
#   and recreates the tables, loads them, then builds indexes and keys),
#   both over the schema as it is and into its emptied tables;
#   and the bytes an incremental backup of the unchanged tenant stores.
# Results (hyperfine markdown and JSON, uptime before and after) land in
# WORKDIR/results; BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${STEWARD_PG_URL:?set STEWARD_PG_URL to a PostgreSQL connection string}"
W="${1:-$(mktemp -d)}"
RUNS="${RUNS:-3}"
ROWS="${ROWS:-1000000}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
mkdir -p "$W/results"
R="$W/results"

# DB is the benchmark database's URL: STEWARD_PG_URL's, another database.
base="${STEWARD_PG_URL%%\?*}"
query=""
case "$STEWARD_PG_URL" in *\?*) query="?${STEWARD_PG_URL#*\?}" ;; esac
BENCH_DB="${BENCH_DB:-steward_sqlbench}"
DB="${base%/*}/$BENCH_DB$query"
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)

uptime | tee "$R/uptime-before.txt"
if [ -n "${REUSE:-}" ] && "${PSQL[@]}" "$DB" -c "SELECT 1 FROM acme_s.tasks LIMIT 1" >/dev/null 2>&1; then
	echo "== reusing the database $BENCH_DB"
else
	REUSE=""
	"${PSQL[@]}" "$STEWARD_PG_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB" -c "CREATE DATABASE $BENCH_DB"
fi

# tables SCHEMA creates the three tables in SCHEMA.
tables() {
	cat <<EOF
CREATE TABLE $1.accounts (tenant_id text NOT NULL, id bigint NOT NULL, name text NOT NULL, email text, settings jsonb,
	created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE INDEX ON $1.accounts (tenant_id, email);
CREATE TABLE $1.projects (tenant_id text NOT NULL, id bigint NOT NULL, account_id bigint NOT NULL, title text NOT NULL,
	budget numeric(14,2), updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, account_id) REFERENCES $1.accounts (tenant_id, id));
CREATE INDEX ON $1.projects (tenant_id, account_id);
CREATE TABLE $1.tasks (tenant_id text NOT NULL, project_id bigint NOT NULL, seq integer NOT NULL, body text, done boolean NOT NULL,
	due date, PRIMARY KEY (tenant_id, project_id, seq),
	FOREIGN KEY (tenant_id, project_id) REFERENCES $1.projects (tenant_id, id));
CREATE INDEX ON $1.tasks (tenant_id, due);
EOF
}

# seed TENANT fills the shared tables with TENANT's ROWS rows.
seed() {
	cat <<EOF
INSERT INTO public.accounts SELECT '$1', i, 'account ' || i, 'a' || i || '@example.com',
	jsonb_build_object('plan', 'pro', 'seats', i % 50), '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second',
	'2026-02-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, $((ROWS / 10))) i;
INSERT INTO public.projects SELECT '$1', i, (i - 1) % $((ROWS / 10)) + 1, 'project ' || i || ' — naïve',
	i * 10.25, '2026-03-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, $((ROWS / 10))) i;
INSERT INTO public.tasks SELECT '$1', (i - 1) % $((ROWS / 10)) + 1, (i - 1) / $((ROWS / 10)) + 1, 'task ' || i, i % 3 = 0,
	'2026-01-01'::date + i % 365 FROM generate_series(1, $((ROWS - ROWS / 5))) i;
EOF
}

[ -n "$REUSE" ] || echo "== seeding $ROWS rows for each of five tenants, and schema acme_s"
[ -n "$REUSE" ] || {
	tables public
	for t in acme globex initech umbrella hooli; do seed "$t"; done
	echo "CREATE SCHEMA acme_s;"
	tables acme_s
	for t in accounts projects tasks; do echo "INSERT INTO acme_s.$t SELECT * FROM public.$t WHERE tenant_id = 'acme';"; done
	echo "VACUUM ANALYZE;"
} | "${PSQL[@]}" "$DB"

go build -o "$W/backupctl" ./examples/backupctl
ST="$W/steward-repo"
CTL="$W/backupctl --store file://$ST"
SHARED="--tenant acme --sql '$DB' --layout tenant-column:tenant_id"
SCHEMA="--tenant acme_s --sql '$DB' --layout schema:acme_s"
raw_copy=""
for t in accounts projects tasks; do
	raw_copy+="\\copy (SELECT * FROM public.$t WHERE tenant_id = 'acme' ORDER BY 1, 2, 3) TO '/dev/null'"$'\n'
done
printf '%s' "$raw_copy" > "$W/raw-copy.sql"
# copy-in.sql loads acme's rows, saved below, into the shared tables in
# one transaction, parents first: PostgreSQL's own floor for a restore
# into emptied tables with their foreign keys and indexes in place.
copy_in=""
for t in accounts projects tasks; do
	copy_in+="\\copy public.$t FROM '$W/acme-$t.copy'"$'\n'
done
printf '%s' "$copy_in" > "$W/copy-in.sql"
empty_shared="${PSQL[*]} '$DB' -c \"DELETE FROM public.tasks WHERE tenant_id = 'acme'\" -c \"DELETE FROM public.projects WHERE tenant_id = 'acme'\" -c \"DELETE FROM public.accounts WHERE tenant_id = 'acme'\" -c 'VACUUM ANALYZE'"
empty_schema="${PSQL[*]} '$DB' -c 'TRUNCATE acme_s.tasks, acme_s.projects, acme_s.accounts' -c 'VACUUM ANALYZE'"
DUMP="$W/acme_s.dump"

hf() { # hf NAME hyperfine-args...: one comparison, exported under NAME
	local name="$1"
	shift
	echo "== $name"
	hyperfine --runs "$RUNS" --export-markdown "$R/$name.md" --export-json "$R/$name.json" "$@"
}

hf shared-backup -n raw-copy "${PSQL[*]} '$DB' -f $W/raw-copy.sql" \
	-n steward "rm -rf $ST && $CTL backup $SHARED --full"
hf shared-restore -n steward-in-place "$CTL restore $SHARED --snapshot latest --delete" \
	-n steward-merge "$CTL restore $SHARED --snapshot latest --mode merge"
if [ -z "${SKIP_EMPTY:-}" ]; then
	for t in accounts projects tasks; do
		"${PSQL[@]}" "$DB" -c "\\copy (SELECT * FROM public.$t WHERE tenant_id = 'acme') TO '$W/acme-$t.copy'"
	done
	hf shared-restore-empty --prepare "$empty_shared" -n plain-copy-in "${PSQL[*]} -1 '$DB' -f $W/copy-in.sql" \
		-n steward-into-empty "$CTL restore $SHARED --snapshot latest --delete"
fi

hf schema-backup -n pg_dump "$PGBIN/pg_dump -Fc -n acme_s -f $DUMP '$DB'" \
	-n steward "$CTL backup $SCHEMA --full"
hf schema-restore -n pg_restore "$PGBIN/pg_restore -n acme_s --clean --if-exists -d '$DB' $DUMP" \
	-n steward-in-place "$CTL restore $SCHEMA --snapshot latest --delete"
[ -n "${SKIP_EMPTY:-}" ] || hf schema-restore-empty --prepare "$empty_schema" \
	-n pg_restore "$PGBIN/pg_restore -n acme_s --clean --if-exists -d '$DB' $DUMP" \
	-n steward-into-empty "$CTL restore $SCHEMA --snapshot latest --delete"

echo "== incremental backup of the unchanged tenant, into a store of its own"
SI="$W/steward-incr"
rm -rf "$SI"
bash -c "$W/backupctl --store file://$SI backup $SHARED --full" >/dev/null
full=$(du -sb "$SI" | cut -f1)
bash -c "$W/backupctl --store file://$SI backup $SHARED" >/dev/null
incr=$(($(du -sb "$SI" | cut -f1) - full))
echo "full: $full bytes, incremental: $incr bytes ($(awk "BEGIN {printf \"%.3f\", 100 * $incr / $full}") %)" | tee "$R/incremental.txt"
ls -l "$DUMP" | tee "$R/dump-size.txt"

uptime | tee "$R/uptime-after.txt"
echo "== means (s)"
for f in "$R"/*.json; do
	jq -r --arg f "$(basename "$f" .json)" '.results[] | [$f, .command, (.mean | tostring), (.stddev | tostring)] | @tsv' "$f"
done | tee "$R/means.tsv"
[ -n "${KEEP_DB:-}" ] || "${PSQL[@]}" "$STEWARD_PG_URL" -c "DROP DATABASE $BENCH_DB"
