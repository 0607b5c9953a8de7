#!/bin/sh
# run_fs.sh - the tree against the floors, in one run:
#   reads of a live state file: mixfs, a minimal one-file FUSE filesystem
#   with the same freshness (direct_io), the same kept in the page cache,
#   and tmpfs;
#   ls -l of a session holding 10,000 jobs;
#   a large final_mix.wav read through the mount beside reading it directly.
set -eu
B=${B:-build/bench}
sc=${SCRATCH:?}
. tests/lib/mount.sh
MIXFS=$(pwd)/$B/mixfs
CFLAGS_FUSE=$(pkg-config --cflags --libs fuse3)
# shellcheck disable=SC2086
cc -O2 -o "$B/minifs" bench/minifs.c $CFLAGS_FUSE
cc -O2 -o "$B/reads" bench/reads.c
pids=
cleanup_fs() {
	for m in "$sc/mini" "$sc/minic"; do fusermount3 -u "$m" 2>/dev/null || true; done
	mixfs_cleanup
}
T=
trap cleanup_fs EXIT

# 10,000 jobs in one session, and a complete one with a 512 MiB mix; and
# 100,000 in another
make_jobs() { # SESSION COUNT SEED
	mkdir -p "$sc/fsm/$1/jobs" "$sc/fsm/$1/stems"
	awk -v dir="$sc/fsm/$1/jobs" -v sid="$1" -v count="$2" -v seed="$3" -v now="$now" 'BEGIN {
		srand(seed)
		for (i = 0; i < count; i++) {
			id = ""
			for (k = 0; k < 32; k++) id = id sprintf("%x", int(rand() * 16))
			id = substr(id, 1, 8) "-" substr(id, 9, 4) "-4" substr(id, 14, 3) "-8" substr(id, 18, 3) "-" substr(id, 21, 12)
			f = dir "/" id ".json"
			printf "{\"job_id\": \"%s\", \"session_id\": \"%s\", \"state\": \"%s\", \"updated_at\": \"%s\", \"request_name\": \"r%d.json\"}\n",
				id, sid, (i == 0 ? "complete" : "queued"), now, i > f
			close(f)
			x = dir "/../../jobs_index/" id ".json"
			printf "{\"job_id\": \"%s\", \"session_id\": \"%s\"}\n", id, sid > x
			close(x)
			if (i == 0) print id > (dir "/../first")
		}
	}'
}
mkdir -p "$sc/fsm/jobs_index" "$sc/fsm/.mix_outputs/big/jobs"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
make_jobs big 10000 7
make_jobs huge 100000 8
rm -f "$sc/fsm/huge/first"
first=$(cat "$sc/fsm/big/first")
rm "$sc/fsm/big/first"
head -c 536870912 /dev/urandom >"$sc/fsm/.mix_outputs/big/jobs/$first.wav"
ln "$sc/fsm/.mix_outputs/big/jobs/$first.wav" "$sc/fsm/.mix_outputs/big/final_mix.wav"

mixfs_mount "$sc/fsm" "$sc/mnt" workers=0
mkdir -p "$sc/mini" "$sc/minic"
"$B/minifs" "$sc/mini" &
"$B/minifs" "$sc/minic" cached &
printf 'mixing\n' >/dev/shm/mixfs-bench-state
wait_for 5 test -e "$sc/mini/state"
wait_for 5 test -e "$sc/minic/state"
# a queued job's state (it may change at any moment: read whole, each
# open its own text) and a complete one's (settled: the page cache)
state=$sc/mnt/sessions/big/jobs/$(grep -l '"queued"' "$sc"/fsm/big/jobs/*.json | head -n 1 | sed 's|.*/||; s/\.json$//')/state
final=$sc/mnt/sessions/big/jobs/$first/state
test "$(cat "$state")" = queued && test "$(cat "$final")" = complete

echo "## Reading a state file (open, read, close; one thread)"
r_mixfs=$("$B/reads" "$state" 2)
r_final=$("$B/reads" "$final" 2)
r_mini=$("$B/reads" "$sc/mini/state" 2)
r_cached=$("$B/reads" "$sc/minic/state" 2)
r_tmpfs=$("$B/reads" /dev/shm/mixfs-bench-state 2)
rm -f /dev/shm/mixfs-bench-state
echo "| file | reads/s | vs minimal FUSE |"
echo "|---|---|---|"
for row in "mixfs, a queued job's state:$r_mixfs" "mixfs, a complete job's state:$r_final" \
	"minimal FUSE, direct_io:$r_mini" \
	"minimal FUSE, page cache:$r_cached" "tmpfs:$r_tmpfs"; do
	awk -v n="${row%%:*}" -v r="${row#*:}" -v m="$r_mini" \
		'BEGIN { printf "| %s | %d | %.2fx |\n", n, r, r / m }'
done
fusermount3 -u "$sc/mini"
fusermount3 -u "$sc/minic"

echo
echo "## ls -l of sessions holding 10,000 and 100,000 jobs"
t0=$(date +%s.%N)
n=$(ls -l "$sc/mnt/sessions/big/jobs" | tail -n +2 | wc -l)
t1=$(date +%s.%N)
ls -l "$sc/mnt/sessions/big/jobs" >/dev/null
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$n" \
	'BEGIN { printf "%d entries: %.3f s the first time, %.3f s again (target: under 0.5 s)\n", n, b - a, c - b }'
t0=$(date +%s.%N)
n=$(ls -l "$sc/mnt/sessions/big/requests" | tail -n +2 | wc -l)
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "requests/ with %d receipts: %.3f s\n", n, b - a }'
t0=$(date +%s.%N)
n=$(ls -l "$sc/mnt/sessions/huge/jobs" | tail -n +2 | wc -l)
t1=$(date +%s.%N)
ls -l "$sc/mnt/sessions/huge/jobs" >/dev/null
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$n" \
	'BEGIN { printf "a session of %d jobs: ls -l %.3f s the first time, %.3f s again\n", n, b - a, c - b }'

echo
echo "## Reading a 512 MiB final_mix.wav (warm page cache)"
direct=$sc/fsm/.mix_outputs/big/jobs/$first.wav
cat "$direct" >/dev/null
rate() {
	cat "$1" >/dev/null
	t0=$(date +%s.%N)
	cat "$1" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 512 / (b - a) }'
}
d=$(rate "$direct")
j=$(rate "$sc/mnt/sessions/big/jobs/$first/final_mix.wav")
s=$(rate "$sc/mnt/sessions/big/final_mix.wav")
echo "| path | MiB/s | vs direct |"
echo "|---|---|---|"
for row in "direct (the outputs folder):$d" "jobs/JID/final_mix.wav:$j" "sessions/SID/final_mix.wav:$s"; do
	awk -v n="${row%%:*}" -v r="${row#*:}" -v d="$d" 'BEGIN { printf "| %s | %d | %.2fx |\n", n, r, r / d }'
done
mixfs_unmount
rm -rf "$sc/fsm" "$sc/mnt"
