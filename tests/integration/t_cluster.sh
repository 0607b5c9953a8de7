#!/bin/sh
# t_cluster.sh - several hosts, one queue (SPEC 9): three daemons over one
# MEDIA_DIR and outputs folder, each with its own mountpoint, sharing a
# PostgreSQL of the case's own. Schema creation racing at three mounts,
# drops spread over the hosts (each job run once), reads and wait on one
# host for jobs run on another, a host killed mid-job and one frozen past
# its lease, the cap under racing drops, cancel across hosts, the database
# stopped and started under drops, and the cleanup pass deleting each
# expired job once.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
. "$here/../lib/pg.sh"
. "$here/../lib/cluster.sh"
: "${MIXFS:?}"
T=$(mktemp -d /tmp/mixfs-cluster.XXXXXX)
MEDIA=$T/media
OUTS=$MEDIA/.mix_outputs
HOSTS="alpha beta gamma"
LEASE=2
OPTS="lease=$LEASE,workers=1,max_jobs_per_session=6,failed_ttl=0.002"
trap cluster_cleanup EXIT
trap "exit 143" TERM INT

col() { pg_sql "SELECT $2 FROM mixfs_jobs WHERE job_id = '$1'"; }
state_on() { cat "$T/$1/sessions/$2/jobs/$3/state" 2>/dev/null; }
all_say() { # all_say SID JID STATE: every host's tree shows it
	for h in $HOSTS; do [ "$(state_on "$h" "$1" "$2")" = "$3" ] || return 1; done
}

pg_start || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
mkdir -p "$MEDIA"

# 0. a single host's file store moves in: mixfs migrate, twice
mixfs_mount "$MEDIA" "$T/one" workers=1 || { echo "Bail out! cannot mount one host"; exit 1; }
mkdir "$T/one/sessions/old"
sox -n -r 48000 -b 24 -c 2 "$T/one/sessions/old/stems/tone.wav" synth 1 sine 330 gain -12
echo '{}' >"$T/req.json"
cp "$T/req.json" "$T/one/sessions/old/requests/done.json"
old_done=$(cat "$T/one/sessions/old/requests/done.json")
check "on one host the job completes" \
	test "$(timeout 60 cat "$T/one/sessions/old/jobs/$old_done/wait")" = complete
mixfs_unmount
mixfs_mount "$MEDIA" "$T/one" workers=0 || { echo "Bail out! cannot mount one host"; exit 1; }
cp "$T/req.json" "$T/one/sessions/old/requests/queued.json"
old_queued=$(cat "$T/one/sessions/old/requests/queued.json")
check "one host's daemon exits 0" mixfs_unmount
echo '{"job_id": ' >"$MEDIA/old/jobs/00000000-0000-4000-8000-000000000000.json"
"$MIXFS" migrate "$MEDIA" "$PG_CONNINFO" >"$T/migrate.1"
rc=$?
check "migrate reports a record it could not move ($rc)" test "$rc" = 1
check "it moved the two good records" grep -q "^moved 2 records" "$T/migrate.1"
check "and names the corrupt one it left" grep -q "^left: old/jobs/00000000-0000-4000-8000-000000000000.json" "$T/migrate.1"
"$MIXFS" migrate "$MEDIA" "$PG_CONNINFO" >"$T/migrate.2"
check "a second migrate moves nothing twice" grep -q "^moved 0 records.*2 were there already" "$T/migrate.2"
"$MIXFS" -f "$MEDIA" "$T/one" 2>"$T/moved.err"
rc=$?
check "a single-host mount of the moved MEDIA_DIR refuses ($rc)" test "$rc" -ne 0
check "and says where the jobs went" grep -q "moved into database mixfs.*by mixfs migrate" "$T/moved.err"
check "the rows are the records" \
	test "$(pg_sql "SELECT state FROM mixfs_jobs WHERE job_id = '$old_done'")" = complete

# 1. three hosts mounting at once race to create the schema
pids=
for h in $HOSTS; do
	host_start "$h" &
	pids="$pids $!"
done
wait $pids
up=0
for h in $HOSTS; do [ -e "$T/$h/README" ] && up=$((up + 1)); done
check "three hosts mounting at once all serve" test "$up" = 3
[ "$up" = 3 ] || { echo "Bail out! hosts did not mount"; exit 1; }
check "the schema was made once, at version 1" \
	test "$(pg_sql "SELECT value FROM mixfs_meta WHERE key = 'schema_version'")" = 1

# 2. names and locks: one host name per database, no single-host daemon
mkdir -p "$T/dup" "$T/single"
"$MIXFS" -f -o "database=$PG_CONNINFO,host=alpha" "$MEDIA" "$T/dup" 2>"$T/dup.err"
rc=$?
check "a second daemon named alpha refuses ($rc)" test "$rc" -ne 0
check "and says the name is in use" grep -q "host alpha is already mounted" "$T/dup.err"
"$MIXFS" -f "$MEDIA" "$T/single" 2>"$T/single.err"
rc=$?
check "a single-host daemon on the cluster's MEDIA_DIR refuses ($rc)" test "$rc" -ne 0
"$MIXFS" -f -o "host=x" "$MEDIA" "$T/single" 2>"$T/opt.err"
check "host= without database= is a usage error" grep -q "need database=" "$T/opt.err"

for h in $HOSTS; do
	check "the migrated jobs show on $h" test "$(cat "$T/$h/sessions/old/requests/done.json")" = "$old_done"
done
check "the migrated queued job runs on the cluster" \
	test "$(timeout 60 cat "$T/beta/sessions/old/jobs/$old_queued/wait")" = complete

# 3. a session made through one host is there on every host
mkdir "$T/alpha/sessions/s1"
sox -n -r 48000 -b 24 -c 2 "$T/alpha/sessions/s1/stems/tone.wav" synth 2 sine 440 gain -12
for h in beta gamma; do
	check "a session made on alpha is listed on $h" wait_for 2 test -e "$T/$h/sessions/s1/stems/tone.wav"
done

# 4. drops spread over the hosts: every job runs once, every host sees it
for s in s2 s3; do
	mkdir "$T/beta/sessions/$s"
	cp "$T/alpha/sessions/s1/stems/tone.wav" "$T/beta/sessions/$s/stems/"
done
n=0
for s in s1 s2 s3; do
	for h in $HOSTS; do
		n=$((n + 1))
		cp "$T/req.json" "$T/$h/sessions/$s/requests/r$n.json" && echo "$s $n" >>"$T/acked"
	done
done
check "nine drops over three hosts were acknowledged" test "$(wc -l <"$T/acked")" = 9
S123="session_id IN ('s1', 's2', 's3')"
done_all() { test "$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE $S123 AND state = 'complete'")" = 9; }
check "all nine complete" wait_for 60 done_all
check "each ran exactly once" \
	test "$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE $S123 AND attempts = 1")" = 9
check "the work was shared (hosts: $(pg_sql "SELECT string_agg(DISTINCT host, ' ') FROM mixfs_jobs WHERE $S123"))" \
	test "$(pg_sql "SELECT count(DISTINCT host) FROM mixfs_jobs WHERE $S123")" -ge 2
seen_everywhere() {
	while read -r s i; do
		j=$(cat "$T/alpha/sessions/$s/requests/r$i.json") || return 1
		for h in $HOSTS; do
			[ "$(cat "$T/$h/sessions/$s/requests/r$i.json")" = "$j" ] || return 1
			[ "$(state_on "$h" "$s" "$j")" = complete ] || return 1
		done
	done <"$T/acked"
}
check "every host shows every job complete, receipts included" wait_for 2 seen_everywhere
j=$(cat "$T/gamma/sessions/s1/requests/r3.json")
check "job.json on alpha names the host that ran it ($(col "$j" host))" \
	grep -q "\"host\":.*\"$(col "$j" host)\"" "$T/alpha/sessions/s1/jobs/$j/job.json"
check "its mix is in the shared outputs folder" test -s "$OUTS/s1/jobs/$j.wav"

# 5. a long job: wait on one host for a job another host runs
mkdir "$T/alpha/sessions/long"
sox -n -r 48000 -b 16 -c 1 "$T/alpha/sessions/long/stems/a.wav" synth 0.5 sine 300 gain -12
echo '{"stems": [{"file": "a.wav", "offset_ms": 1500000}], "output": {"format": "flac", "bit_depth": 16}}' \
	>"$T/long.json"
running_host() { # running_host JID: the host running it, once it runs
	pg_sql "SELECT host FROM mixfs_jobs WHERE job_id = '$1' AND state IN ('mixing', 'mastering', 'loading_stems', 'aligning_stems', 'processing_tracks')"
}
is_running() { [ -n "$(running_host "$1")" ]; }
j=$(cp "$T/long.json" "$T/alpha/sessions/long/requests/w.json" && cat "$T/alpha/sessions/long/requests/w.json")
wait_for 20 is_running "$j"
runner=$(running_host "$j")
other=alpha
[ "$runner" = alpha ] && other=beta
check "the long job runs on a host ($runner)" test -n "$runner"
check "on $other it shows as running too" wait_for 2 sh -c "case \$(cat '$T/$other/sessions/long/jobs/$j/state') in queued|complete|error|'') exit 1;; esac"
python3 - "$T/$other/sessions/long/jobs/$j/state" >"$T/poll.out" 2>&1 <<'PY' &
import select, sys, time
f = open(sys.argv[1]); f.read()
p = select.poll(); p.register(f, select.POLLPRI)
t0 = time.monotonic()
r = p.poll(150000)  # the next state change; slow under sanitizers
print("woke after %.2f s" % (time.monotonic() - t0) if r else "timeout")
PY
ppid=$!
check "cat wait on $other returns complete for a job $runner ran" \
	test "$(timeout 120 cat "$T/$other/sessions/long/jobs/$j/wait")" = complete
check "$other's state shows complete at once after" test "$(state_on "$other" long "$j")" = complete
wait "$ppid"
check "poll() on $other's state wakes on a change made on $runner: $(cat "$T/poll.out")" \
	grep -q "^woke after" "$T/poll.out"

# 6. kill -9 of the host running a job: another host finishes it
j=$(cp "$T/long.json" "$T/beta/sessions/long/requests/k.json" && cat "$T/beta/sessions/long/requests/k.json")
wait_for 20 is_running "$j"
victim=$(running_host "$j")
check "the job runs on $victim" test -n "$victim"
kill -9 "$(pid_of "$victim")"
sleep 0.2
fusermount3 -u "$T/$victim" 2>/dev/null || umount -l "$T/$victim"
survivor=alpha
[ "$victim" = alpha ] && survivor=gamma
taken() { h=$(running_host "$1"); [ -n "$h" ] && [ "$h" != "$victim" ]; }
check "another host takes it once the lease runs out" wait_for $((LEASE * 5)) taken "$j"
check "it completes on $(col "$j" host)" \
	test "$(timeout 120 cat "$T/$survivor/sessions/long/jobs/$j/wait")" = complete
check "its attempts count both starts" test "$(col "$j" attempts)" = 2
check "its log says why it was queued again" grep -q "lease of host $victim ran out" \
	"$T/$survivor/sessions/long/jobs/$j/job.json"
check "no attempt's file is left in the outputs" sh -c "! ls -a '$OUTS/long/jobs' | grep -q attempt"
host_start "$victim" || not_ok "restart $victim"

# 7. a host frozen past its lease and thawed changes nothing
j=$(cp "$T/long.json" "$T/gamma/sessions/long/requests/f.json" && cat "$T/gamma/sessions/long/requests/f.json")
wait_for 20 is_running "$j"
frozen=$(running_host "$j")
kill -STOP "$(pid_of "$frozen")"
taken_from_frozen() { h=$(running_host "$1"); [ -n "$h" ] && [ "$h" != "$frozen" ]; }
check "a job on frozen $frozen is taken by another host" wait_for $((LEASE * 5)) taken_from_frozen "$j"
kill -CONT "$(pid_of "$frozen")"
thief=$(running_host "$j")
sleep 1
check "thawed, $frozen wrote nothing over the new attempt" test "$(col "$j" host)" = "$thief"
check "$frozen says it stopped its attempt" \
	wait_for 5 grep -q "job $j: \(taken over\|its lease could not be kept\)" "$T/$frozen.log"
check "the job completes on $thief" test "$(timeout 120 cat "$T/$frozen/sessions/long/jobs/$j/wait")" = complete
check "with 2 attempts" test "$(col "$j" attempts)" = 2
check "and its output is whole" sh -c "sox '$OUTS/long/jobs/$j.wav' -n stat 2>&1 | grep -q 'Length (seconds): *1500.5'"

# 8. the cap holds across hosts under racing drops
mkdir "$T/alpha/sessions/cap"
cp "$T/alpha/sessions/s1/stems/tone.wav" "$T/alpha/sessions/cap/stems/"
wait_for 2 test -d "$T/gamma/sessions/cap/requests"
pids=
for h in $HOSTS; do
	(for i in 1 2 3 4 5; do
		cp "$T/req.json" "$T/$h/sessions/cap/requests/$h-$i.json" 2>/dev/null && echo ok
	done >"$T/cap.$h") &
	pids="$pids $!"
done
wait $pids
acked=$(cat "$T"/cap.* | wc -l)
check "15 racing drops on three hosts: 6 acknowledged ($acked)" test "$acked" = 6
check "and 6 rows in the session" \
	test "$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE session_id = 'cap'")" = 6

# 9. cancel on one host stops the job another host runs
j=$(cp "$T/long.json" "$T/alpha/sessions/long/requests/c.json" && cat "$T/alpha/sessions/long/requests/c.json")
wait_for 20 is_running "$j"
runner=$(running_host "$j")
canceller=alpha
[ "$runner" = alpha ] && canceller=beta
echo cancel >"$T/$canceller/sessions/long/jobs/$j/ctl"
check "cancelled from $canceller, the job $runner ran ends in error" \
	test "$(timeout 10 cat "$T/$canceller/sessions/long/jobs/$j/wait")" = error
check "with the message cancelled" test "$(col "$j" "record::json->>'error'")" = cancelled

# 10. the database stopped under drops and under a running job, then started
j=$(cp "$T/long.json" "$T/gamma/sessions/long/requests/o.json" && cat "$T/gamma/sessions/long/requests/o.json")
wait_for 20 is_running "$j"
outage_runner=$(running_host "$j")
outage_job=$j
pg_down
cp "$T/req.json" "$T/beta/sessions/s2/requests/down.json" 2>"$T/down.err"
rc=$?
check "a drop while the database is down fails" test "$rc" -ne 0
check "with an I/O error" grep -q "Input/output error" "$T/down.err"
check "the host's log names the database" grep -q "database mixfs.*unreachable" "$T/beta.log"
j=$(cat "$T/beta/sessions/s1/requests/r1.json")
check "reads still answer" test "$(state_on beta s1 "$j")" = complete
sleep $((LEASE + 1)) # longer than the lease: the running job cannot be kept
pg_up
drop_ok() { cp "$T/req.json" "$T/beta/sessions/s2/requests/up.json"; }
check "drops work again once it is back" wait_for 10 drop_ok
j=$(cat "$T/beta/sessions/s2/requests/up.json")
check "and the job completes, seen on every host" wait_for 30 all_say s2 "$j" complete
check "$outage_runner stopped the job it could not renew before its lease ran out" \
	grep -q "job $outage_job: its lease could not be kept" "$T/$outage_runner.log"
check "the job ran again and completed" \
	test "$(timeout 120 cat "$T/alpha/sessions/long/jobs/$outage_job/wait")" = complete
check "attempts: 2" test "$(col "$outage_job" attempts)" = 2

# 11. the cleanup pass deletes each expired job once, by the database's clock
echo '{"stems": 7}' >"$T/bad.json"
cp "$T/bad.json" "$T/gamma/sessions/s3/requests/bad.json" 2>/dev/null
sleep 8 # failed_ttl is 7.2 s
pids=
for h in $HOSTS; do
	cp "$T/req.json" "$T/$h/sessions/s3/requests/pass-$h.json" 2>/dev/null &
	pids="$pids $!"
done
wait $pids
check "no expired row is left" \
	test "$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE expires_at <= now()")" = 0
gone=$(pg_sql "SELECT count(*) FROM mixfs_gone")
deleted=$(cat "$T"/alpha.log "$T"/beta.log "$T"/gamma.log |
	sed -n 's/.*cleanup: \([0-9]*\) expired job.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
check "the hosts' passes deleted $gone jobs in all, each once ($deleted)" test "$deleted" = "$gone"
check "the expired request's job among them" test "$gone" -ge 2
gone_everywhere() {
	for h in $HOSTS; do [ -e "$T/$h/sessions/s3/requests/bad.json" ] && return 1; done
	return 0
}
check "and every host's tree dropped them" wait_for 2 gone_everywhere

for h in $HOSTS; do
	host_stop "$h"
	rc=$(host_status "$h")
	check "$h unmounts and exits 0 ($rc)" test "$rc" = 0
done
check "no error of ours in the logs" sh -c "! grep -h 'mixfs: error' '$T'/alpha.log '$T'/beta.log '$T'/gamma.log | grep -v 'unreachable\|database mixfs'"
done_testing
