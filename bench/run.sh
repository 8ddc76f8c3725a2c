#!/usr/bin/env bash
# Side-by-side timing of steward (examples/backupctl) and restic on one
# dataset: full backup, incremental backup after a small change set, and
# restore, all compressed and encrypted. Needs restic, hyperfine and GNU time
# (Debian packages: restic hyperfine time).
#
#   bench/run.sh [WORKDIR]     # default WORKDIR: a fresh temp dir
#   PROFILE=small bench/run.sh  # the many-small-files dataset (gendata -profile)
#
# Restores are also timed against `cp -a` of the source into the same
# target, the floor for writing that tree on that file system.
#
# Results (hyperfine JSON/markdown and /usr/bin/time -v output) land in
# WORKDIR/results; BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
W="${1:-$(mktemp -d)}"
RUNS="${RUNS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
PROFILE="${PROFILE:-mixed}"
mkdir -p "$W/results"
rm -f "$W"/results/*.time
# median_rss STEP TOOL prints the median peak RSS of results/STEP-TOOL-N.time.
median_rss() {
	printf '%s\t%s KiB\n' "$1-$2 median peak RSS" \
		"$(grep -h 'Maximum resident' "$W/results/$1-$2"-[0-9]*.time | awk '{print $NF}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}
export RESTIC_PASSWORD=bench STEWARD_PASSPHRASE=bench

go build -o "$W/backupctl" ./examples/backupctl
# The same CLI without cloud drivers (-tags nocloud): file:// only, what a
# host embedding steward with its own store pays. The drivers' SDKs add
# 15-20 MiB of resident code and init data to every run; only peak memory
# is measured with it.
go build -tags nocloud -o "$W/backupctl-slim" ./examples/backupctl
go build -o "$W/gendata" ./bench/gendata
DATA="$W/data"
if [ ! -d "$DATA" ]; then "$W/gendata" -out "$DATA" -profile "$PROFILE" -size-mib "$SIZE_MIB"; fi
echo "files: $(find "$DATA" -type f | wc -l), directories: $(find "$DATA" -type d | wc -l)" | tee "$W/results/shape.txt"
du -sb "$DATA" | tee "$W/results/dataset.txt"

ST="$W/steward-repo" RS="$W/restic-repo"
steward_full="rm -rf $ST && $W/backupctl --store file://$ST backup --tenant bench --source $DATA --full --encrypt"
restic_full="rm -rf $RS && restic init -q --repo $RS && restic --repo $RS backup -q --compression auto $DATA"

echo "== full backup"
hyperfine --runs "$RUNS" --export-markdown "$W/results/full.md" --export-json "$W/results/full.json" \
	-n steward "$steward_full" -n restic "$restic_full"
# Peak memory: the median over FULL_RSS_RUNS runs of each (default 3; the
# last run's repositories stay for the next steps).
for i in $(seq "${FULL_RSS_RUNS:-3}"); do
	bash -c "rm -rf $ST"; /usr/bin/time -v "$W/backupctl" --store "file://$ST" backup --tenant bench --source "$DATA" --full --encrypt 2> "$W/results/full-steward-$i.time" >/dev/null
	bash -c "rm -rf $RS && restic init -q --repo $RS"; /usr/bin/time -v restic --repo "$RS" backup -q --compression auto "$DATA" 2> "$W/results/full-restic-$i.time" >/dev/null
	bash -c "rm -rf $ST.slim"; /usr/bin/time -v "$W/backupctl-slim" --store "file://$ST.slim" backup --tenant bench --source "$DATA" --full --encrypt 2> "$W/results/full-steward-slim-$i.time" >/dev/null
done
rm -rf "$ST.slim"
for t in steward restic steward-slim; do median_rss full "$t"; done | tee "$W/results/full-rss.tsv"
du -sb "$ST" "$RS" | tee "$W/results/stored-full.txt"
# The same full backup into a repository whose key is derived with 64 MiB of
# argon2id memory (3 passes; the default before 2026-11-29 and RFC 9106's
# second recommendation) instead of the default 32 MiB × 6 passes, to show
# what the derivation's memory does to the incremental's peak. Not timed.
SK="$W/steward-repo-kdf64"
rm -rf "$SK"; "$W/backupctl" --store "file://$SK" --kdf-memory-mib 64 backup --tenant bench --source "$DATA" --full --encrypt >/dev/null

echo "== incremental backup after the change set"
# Every run of the incremental starts from copies of the repositories as
# the full backups left them (hyperfine's --prepare), so each measures the
# same change. Peak memory is taken over INCR_RSS_RUNS runs of each tool
# (default 5) and reported as the median: one run's peak varies by several
# MiB with the page cache (restic's went from 76 to 85 MiB on one state).
for r in "$ST" "$RS" "$SK"; do rm -rf "$r.base"; cp -a "$r" "$r.base"; done
"$W/gendata" -out "$DATA" -mutate
fresh() { echo "rm -rf $1 && cp -a $1.base $1 && sync"; }
hyperfine --runs "$RUNS" --export-markdown "$W/results/incr.md" --export-json "$W/results/incr.json" \
	--prepare "$(fresh "$ST") && $(fresh "$RS")" \
	-n steward "$W/backupctl --store file://$ST backup --tenant bench --source $DATA --encrypt" \
	-n restic "restic --repo $RS backup -q --compression auto $DATA"
for i in $(seq "${INCR_RSS_RUNS:-5}"); do
	bash -c "$(fresh "$ST")"; /usr/bin/time -v "$W/backupctl" --store "file://$ST" backup --tenant bench --source "$DATA" --encrypt 2> "$W/results/incr-steward-$i.time" >/dev/null
	bash -c "$(fresh "$RS")"; /usr/bin/time -v restic --repo "$RS" backup -q --compression auto "$DATA" 2> "$W/results/incr-restic-$i.time" >/dev/null
	bash -c "$(fresh "$SK")"; /usr/bin/time -v "$W/backupctl" --store "file://$SK" backup --tenant bench --source "$DATA" --encrypt 2> "$W/results/incr-steward-kdf64-$i.time" >/dev/null
	bash -c "$(fresh "$ST")"; /usr/bin/time -v "$W/backupctl-slim" --store "file://$ST" backup --tenant bench --source "$DATA" --encrypt 2> "$W/results/incr-steward-slim-$i.time" >/dev/null
done
rm -rf "$ST.base" "$RS.base" "$SK.base"
for t in steward restic steward-kdf64 steward-slim; do median_rss incr "$t"; done | tee "$W/results/incr-rss.tsv"
du -sb "$ST" "$RS" | tee "$W/results/stored-incr.txt"
hyperfine --runs "$RUNS" --export-markdown "$W/results/incr-nochange.md" --export-json "$W/results/incr-nochange.json" \
	-n steward "$W/backupctl --store file://$ST backup --tenant bench --source $DATA --encrypt" \
	-n restic "restic --repo $RS backup -q --compression auto $DATA"
/usr/bin/time -v "$W/backupctl" --store "file://$ST" backup --tenant bench --source "$DATA" --encrypt 2> "$W/results/nochange-steward.time" >/dev/null
/usr/bin/time -v "$W/backupctl-slim" --store "file://$ST" backup --tenant bench --source "$DATA" --encrypt 2> "$W/results/nochange-steward-slim.time" >/dev/null
/usr/bin/time -v restic --repo "$RS" backup -q --compression auto "$DATA" 2> "$W/results/nochange-restic.time" >/dev/null

echo "== restore"
# RESTORE_DIR is where restores are written (default: beside the data; it is
# removed and recreated by each run). Before each timed restore the previous
# one is removed, dirty pages are flushed and 2.5 GiB of memory is touched
# and freed, so that neither tool pays for the state the previous run left:
# on a VM with free-page reporting, a page the guest has not touched lately
# was handed back to the host and costs a fault to get back (in the write's
# copy into the page cache). On an ext4 without a journal, ext4 also skips
# inodes freed in the last minutes when it allocates new ones, so restoring
# right after removing the previous 11,556 files costs a scan per file
# created; point RESTORE_DIR at a journaled file system there (BENCHMARKS.md,
# "Restore protocol").
# RESTORE_DIRS lists the targets, each timed in turn: by default
# RESTORE_DIR (beside the data unless set) and, when there is one, a
# directory on the /dev/shm tmpfs.
if [ -z "${RESTORE_DIRS:-}" ]; then
	RESTORE_DIRS="${RESTORE_DIR:-$W/restore-target}"
	if [ -d /dev/shm ]; then RESTORE_DIRS="$RESTORE_DIRS /dev/shm/steward-bench-restore"; fi
fi
WARM=/dev/shm/steward-bench-warm
for T in $RESTORE_DIRS; do
	tag=$(case "$T" in /dev/shm/*) echo tmpfs ;; *) echo disk ;; esac)
	prep="rm -rf $T; sync; if [ -d /dev/shm ]; then dd if=/dev/zero of=$WARM bs=1M count=2560 status=none; rm -f $WARM; fi"
	hyperfine --runs "${RESTORE_RUNS:-5}" --export-markdown "$W/results/restore-$tag.md" --export-json "$W/results/restore-$tag.json" \
		--prepare "$prep" \
		-n steward "$W/backupctl --store file://$ST restore --tenant bench --snapshot latest --target $T --mode full" \
		-n steward-validate "$W/backupctl --store file://$ST restore --tenant bench --snapshot latest --target $T --mode full --validate" \
		-n restic "restic --repo $RS restore latest -q --target $T" \
		-n cp-a "cp -a $DATA $T"
	for t in steward steward-slim; do
		bin="$W/backupctl"; [ "$t" = steward-slim ] && bin="$W/backupctl-slim"
		bash -c "$prep"; /usr/bin/time -v "$bin" --store "file://$ST" restore --tenant bench --snapshot latest --target "$T" --mode full 2> "$W/results/restore-$tag-$t.time" >/dev/null
	done
	diff -r -x .steward-restore "$DATA" "$T" >/dev/null && echo "steward restore ($tag): identical to source (its .steward-restore marker aside)"
	bash -c "$prep"; /usr/bin/time -v restic --repo "$RS" restore latest -q --target "$T" 2> "$W/results/restore-$tag-restic.time" >/dev/null
	diff -r "$DATA" "$T$DATA" >/dev/null && echo "restic restore ($tag): identical to source"
	rm -rf "$T"
done

for f in "$W"/results/*.time; do
	printf '%s\t%s\t%s\n' "$(basename "$f")" \
		"$(grep 'Elapsed (wall' "$f" | awk '{print $NF}')" \
		"$(grep 'Maximum resident' "$f" | awk '{print $NF " KiB"}')"
done | tee "$W/results/time-v.tsv"
echo "results in $W/results"
