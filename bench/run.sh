#!/usr/bin/env bash
# Side-by-side timing of steward (examples/backupctl) and restic on one
# dataset: full backup, incremental backup after a small change set, and
# restore, all compressed and encrypted. Needs restic, hyperfine and GNU time
# (Debian packages: restic hyperfine time).
#
#   bench/run.sh [WORKDIR]     # default WORKDIR: a fresh temp dir
#
# Results (hyperfine JSON/markdown and /usr/bin/time -v output) land in
# WORKDIR/results; BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
W="${1:-$(mktemp -d)}"
RUNS="${RUNS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
mkdir -p "$W/results"
export RESTIC_PASSWORD=bench STEWARD_PASSPHRASE=bench

go build -o "$W/backupctl" ./examples/backupctl
go build -o "$W/gendata" ./bench/gendata
DATA="$W/data"
if [ ! -d "$DATA" ]; then "$W/gendata" -out "$DATA" -size-mib "$SIZE_MIB"; fi
du -sb "$DATA" | tee "$W/results/dataset.txt"

ST="$W/steward-repo" RS="$W/restic-repo"
steward_full="rm -rf $ST && $W/backupctl --store file://$ST backup --tenant bench --source $DATA --full --encrypt"
restic_full="rm -rf $RS && restic init -q --repo $RS && restic --repo $RS backup -q --compression auto $DATA"

echo "== full backup"
hyperfine --runs "$RUNS" --export-markdown "$W/results/full.md" --export-json "$W/results/full.json" \
	-n steward "$steward_full" -n restic "$restic_full"
# Peak memory of one run each (the repositories stay for the next steps).
bash -c "rm -rf $ST"; /usr/bin/time -v "$W/backupctl" --store "file://$ST" backup --tenant bench --source "$DATA" --full --encrypt 2> "$W/results/full-steward.time" >/dev/null
bash -c "rm -rf $RS && restic init -q --repo $RS"; /usr/bin/time -v restic --repo "$RS" backup -q --compression auto "$DATA" 2> "$W/results/full-restic.time" >/dev/null
du -sb "$ST" "$RS" | tee "$W/results/stored-full.txt"

echo "== incremental backup after the change set"
"$W/gendata" -out "$DATA" -mutate
# Each timed run starts from the same two-snapshot state: the first run adds
# the change; later runs measure the unchanged case too, so use one run each
# with time -v plus hyperfine over the no-change case.
/usr/bin/time -v "$W/backupctl" --store "file://$ST" backup --tenant bench --source "$DATA" --encrypt 2> "$W/results/incr-steward.time" >/dev/null
/usr/bin/time -v restic --repo "$RS" backup -q --compression auto "$DATA" 2> "$W/results/incr-restic.time" >/dev/null
du -sb "$ST" "$RS" | tee "$W/results/stored-incr.txt"
hyperfine --runs "$RUNS" --export-markdown "$W/results/incr-nochange.md" --export-json "$W/results/incr-nochange.json" \
	-n steward "$W/backupctl --store file://$ST backup --tenant bench --source $DATA --encrypt" \
	-n restic "restic --repo $RS backup -q --compression auto $DATA"

echo "== restore"
# Each timed restore writes into a fresh directory, and nothing is deleted
# between runs: this disk's ext4 has no journal, and there ext4 skips inodes
# freed in the last minutes when it allocates new ones, so a restore right
# after an "rm -rf" of the previous 11,556 files pays a scan per file created
# (ext4_create -> recently_deleted: 28% of the CPU samples of such a run in
# perf, for either tool). That cost belongs to the harness, not to the tools.
# Dirty pages are flushed before each run; the directories go at the end
# (and a new parent each time, so an aborted run's leftovers are not removed
# right before timing).
R="$(mktemp -d -p "$W" restores.XXXXXX)"
hyperfine --runs "${RESTORE_RUNS:-5}" --export-markdown "$W/results/restore.md" --export-json "$W/results/restore.json" \
	--prepare sync \
	-n steward "d=\$(mktemp -d -p $R) && $W/backupctl --store file://$ST restore --tenant bench --snapshot latest --target \$d --mode full" \
	-n restic "d=\$(mktemp -d -p $R) && restic --repo $RS restore latest -q --target \$d"
sync; /usr/bin/time -v "$W/backupctl" --store "file://$ST" restore --tenant bench --snapshot latest --target "$R/steward" --mode full 2> "$W/results/restore-steward.time" >/dev/null
sync; /usr/bin/time -v restic --repo "$RS" restore latest -q --target "$R/restic" 2> "$W/results/restore-restic.time" >/dev/null
# Both restored trees must equal the source.
diff -r "$DATA" "$R/steward" >/dev/null && echo "steward restore: identical to source"
diff -r "$DATA" "$R/restic$DATA" >/dev/null && echo "restic restore: identical to source"
rm -rf "$R"

for f in "$W"/results/*.time; do
	printf '%s\t%s\t%s\n' "$(basename "$f")" \
		"$(grep 'Elapsed (wall' "$f" | awk '{print $NF}')" \
		"$(grep 'Maximum resident' "$f" | awk '{print $NF " KiB"}')"
done | tee "$W/results/time-v.tsv"
echo "results in $W/results"
