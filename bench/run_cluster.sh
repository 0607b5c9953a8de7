#!/bin/sh
# run_cluster.sh - several hosts on one PostgreSQL (started here, as the
# tests do): a batch of short jobs dropped at once with 1, 2 and 3 daemons
# (workers=1 each); the queue's own costs against the file store in the
# same run: a drop's close() (enqueue) and an idle host's claim (created_at
# to started_at); and the database's load: statements per job, and per
# second from an idle host.
set -eu
B=${B:-build/bench}
MIXFS=$(pwd)/$B/mixfs
sc=${SCRATCH:?}
. tests/lib/pg.sh
. tests/lib/mount.sh
N=24
T=$sc/cluster
MEDIA=$T/media
HOSTS=
OPTS="workers=1,job_ttl=1"
. tests/lib/cluster.sh
# set +e: under set -e a failing command would end the trap before the
# database is stopped
trap 'set +e; for h in alpha beta gamma; do [ -e "$T/$h.pid" ] && host_stop "$h"; done; [ -n "${MIXFS_PID:-}" ] && mixfs_unmount; pg_stop' EXIT
trap 'exit 143' TERM INT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# started_at - created_at of a job.json, in ms
claim_ms() {
	python3 -c 'import json, sys, datetime as d
r = json.load(open(sys.argv[1]))
t = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
print(round((t(r["started_at"]) - t(r["created_at"])) * 1000, 1))' "$1"
}
stat_of() { sed -n "s/^$2: //p" "$T/$1/stats"; }
statements() { _n=0; for h in $HOSTS; do _n=$((_n + $(stat_of "$h" database_statements))); done; echo "$_n"; }

mkdir -p "$T"
pg_start >/dev/null
sox -n -r 48000 -b 24 -c 2 "$T/tone.wav" synth 60 sine 440 gain -12
echo '{}' >"$T/req.json"

# fresh_session MNT SID: a session holding the tone
fresh_session() { mkdir "$1/sessions/$2" && cp "$T/tone.wav" "$1/sessions/$2/stems/"; }

# enqueue: N drops' close() with no worker to compete, ms each (median)
enqueue() {
	for i in $(seq 1 30); do
		t0=$(now)
		cp "$T/req.json" "$1/sessions/$2/requests/e$i.json"
		awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'
	done | median
}
# claim MNT SID [RUNNER]: one job at a time dropped through MNT into an
# idle cluster (run by RUNNER's mount when given), started_at - created_at
claim() {
	for i in $(seq 1 15); do
		cp "$T/req.json" "$1/sessions/$2/requests/c$i.json"
		j=$(cat "$1/sessions/$2/requests/c$i.json")
		cat "$1/sessions/$2/jobs/$j/wait" >/dev/null
		sleep 0.3
		claim_ms "${3:-$1}/sessions/$2/jobs/$j/job.json"
	done | median
}

# the file store
mixfs_mount "$T/fmedia" "$T/fmnt" "workers=0" >/dev/null
fresh_session "$T/fmnt" q
file_enq=$(enqueue "$T/fmnt" q)
mixfs_unmount
mixfs_mount "$T/fmedia" "$T/fmnt" "workers=1" >/dev/null
fresh_session "$T/fmnt" c
file_claim=$(claim "$T/fmnt" c)
mixfs_unmount

# one host on the database
mkdir -p "$MEDIA"
HOSTS=alpha
OPTS="workers=0,job_ttl=1"
host_start alpha >/dev/null
fresh_session "$T/alpha" q
pg_enq=$(enqueue "$T/alpha" q)
host_stop alpha
OPTS="workers=1,job_ttl=1"
host_start alpha >/dev/null
fresh_session "$T/alpha" c
pg_claim=$(claim "$T/alpha" c)
s0=$(statements)
sleep 5
idle=$(awk -v a="$s0" -v b="$(statements)" 'BEGIN { printf "%.1f", (b - a) / 5 }')
# dropped on beta, which runs nothing: alpha hears of it and claims it
OPTS="workers=0,job_ttl=1"
host_start beta >/dev/null
wait_for 5 test -d "$T/beta/sessions/c/requests"
pg_remote=$(claim "$T/beta" c "$T/alpha")
host_stop beta
host_stop alpha
OPTS="workers=1,job_ttl=1"

# the batch with 1, 2 and 3 hosts; the file store's one host for reference
batch() {
	HOSTS=$1
	for h in $HOSTS; do host_start "$h" >/dev/null; done
	set -- $HOSTS
	fresh_session "$T/$1" "b$#"
	for h in $HOSTS; do wait_for 5 test -d "$T/$h/sessions/b$#/requests"; done
	s0=$(statements)
	t0=$(now)
	i=0
	while [ $i -lt $N ]; do
		for h in $HOSTS; do
			i=$((i + 1))
			[ $i -le $N ] && cp "$T/req.json" "$T/$h/sessions/b$#/requests/r$i.json"
		done
	done
	for i in $(seq 1 $N); do
		cat "$T/$1/sessions/b$#/jobs/$(cat "$T/$1/sessions/b$#/requests/r$i.json")/wait" >/dev/null
	done
	t=$(secs "$t0" "$(now)")
	per_job=$(awk -v a="$s0" -v b="$(statements)" -v n=$N 'BEGIN { printf "%.0f", (b - a) / n }')
	for h in $HOSTS; do host_stop "$h"; done
	echo "$t $per_job"
}
mixfs_mount "$T/fmedia" "$T/fmnt" "workers=1,job_ttl=1" >/dev/null
fresh_session "$T/fmnt" b
t0=$(now)
for i in $(seq 1 $N); do cp "$T/req.json" "$T/fmnt/sessions/b/requests/r$i.json"; done
for i in $(seq 1 $N); do cat "$T/fmnt/sessions/b/jobs/$(cat "$T/fmnt/sessions/b/requests/r$i.json")/wait" >/dev/null; done
t0f=$(secs "$t0" "$(now)")
mixfs_unmount
set -- $(batch alpha); t1=$1 st1=$2
set -- $(batch "alpha beta"); t2=$1 st2=$2
set -- $(batch "alpha beta gamma"); t3=$1 st3=$2
per_min() { awk -v n="$N" -v t="$1" 'BEGIN { printf "%.0f", n * 60 / t }'; }

echo "## Several hosts on one PostgreSQL: $N mastered mixes of a 60 s stem dropped at once (workers=1 per host)"
echo "| hosts | time | jobs per minute | statements per job |"
echo "|---|---|---|---|"
echo "| file store, 1 | $t0f s | $(per_min "$t0f") | |"
echo "| 1 | $t1 s | $(per_min "$t1") | $st1 |"
echo "| 2 | $t2 s | $(per_min "$t2") | $st2 |"
echo "| 3 | $t3 s | $(per_min "$t3") | $st3 |"
echo
echo "| the queue's own cost (median) | file store | PostgreSQL |"
echo "|---|---|---|"
echo "| enqueue: a drop's close() | $file_enq ms | $pg_enq ms |"
echo "| claim: created_at to started_at, idle host | $file_claim ms | $pg_claim ms |"
echo "| the same, dropped on another host | | $pg_remote ms |"
echo
echo "An idle host sends $idle statements a second (change reads, lease renewal, requeue check)."
echo "On 2 cores the engine is the limit: more hosts on the same machine share the same cores."
