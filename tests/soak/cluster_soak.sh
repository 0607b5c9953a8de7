#!/bin/sh
# cluster_soak.sh - three hosts and a database under random faults, for
# `make soak`: each round drops requests on every host while one fault
# strikes (a host killed with SIGKILL and restarted, a host frozen past its
# lease and thawed, or the database restarted), then waits for the queue
# to drain and checks: every acknowledged drop has exactly one job, every
# job ended (complete, or error after at most 3 starts), every complete
# job's mix is there and whole, no attempt's file is left, and every host
# shows exactly the database's jobs. CLUSTER_ROUNDS sets the rounds (12).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
. "$here/../lib/pg.sh"
. "$here/../lib/cluster.sh"
: "${MIXFS:?}"
rounds=${CLUSTER_ROUNDS:-12}
T=$(mktemp -d /tmp/mixfs-csoak.XXXXXX)
MEDIA=$T/media
OUTS=$MEDIA/.mix_outputs
HOSTS="alpha beta gamma"
LEASE=2
OPTS="lease=$LEASE,workers=1"
trap 'touch "$T/stop"; cluster_cleanup' EXIT
trap "exit 143" TERM INT

pg_start || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
mkdir -p "$MEDIA"
for h in $HOSTS; do host_start "$h" || { echo "Bail out! cannot mount $h"; exit 1; }; done
mkdir "$T/alpha/sessions/soak"
sox -n -r 48000 -b 24 -c 2 "$T/alpha/sessions/soak/stems/a.wav" synth 1 sine 440 gain -12
echo '{}' >"$T/short.json"
echo '{"stems": [{"file": "a.wav", "offset_ms": 240000}], "output": {"format": "flac", "bit_depth": 16}}' >"$T/long.json"
wait_for 5 test -d "$T/gamma/sessions/soak/requests"

# dropper HOST ROUND: drop on HOST until told to stop; acknowledged names
# (close() returned 0) go to $T/acked
dropper() {
	_i=0
	while [ ! -e "$T/stop" ]; do
		_i=$((_i + 1))
		_req=$T/short.json
		[ $((_i % 4)) = 0 ] && _req=$T/long.json
		_n=$1-$2-$_i.json
		if cp "$_req" "$T/$1/sessions/soak/requests/$_n" 2>/dev/null; then
			echo "$_n" >>"$T/acked.$1"
		fi
		sleep 0.3
	done
}
# the faults take turns; the victim and the moment vary with the round
pick() { _k=$((($1 + $1 / 3 + $$) % 3)); set -- $HOSTS; shift "$_k"; echo "$1"; }
drained() { [ "$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE state NOT IN ('complete', 'error')")" = 0 ]; }

for r in $(seq 1 "$rounds"); do
	rm -f "$T/stop"
	pids=
	for h in $HOSTS; do dropper "$h" "$r" & pids="$pids $!"; done
	sleep "$(awk -v r="$r" -v p="$$" 'BEGIN { srand(r * 7919 + p); printf "%.2f", 1 + rand() * 2 }')"
	victim=$(pick "$r")
	case $((r % 3)) in
	0)	fault="kill -9 $victim"
		kill -9 "$(pid_of "$victim")"
		sleep 0.3
		fusermount3 -u "$T/$victim" 2>/dev/null || umount -l "$T/$victim"
		host_start "$victim" || not_ok "round $r: restart $victim" ;;
	1)	fault="SIGSTOP $victim for $((LEASE + 1)) s"
		kill -STOP "$(pid_of "$victim")"
		sleep $((LEASE + 1))
		kill -CONT "$(pid_of "$victim")" ;;
	2)	fault="database restart"
		pg_down
		sleep 1
		pg_up ;;
	esac
	sleep 1
	touch "$T/stop"
	wait $pids
	drained=no
	wait_for 120 drained && drained=yes
	acked=$(cat "$T"/acked.* | sort)
	n_acked=$(echo "$acked" | grep -c .)
	rows=$(pg_sql "SELECT record::json->>'request_name' FROM mixfs_jobs WHERE session_id = 'soak'" | sort)
	dup=$(echo "$rows" | uniq -d | grep -c .)
	lost=$(echo "$acked" | comm -23 - "$(printf '%s\n' "$rows" >"$T/rows"; echo "$T/rows")" | grep -c .)
	over=$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE attempts > 3")
	bad_out=0
	for j in $(pg_sql "SELECT job_id FROM mixfs_jobs WHERE state = 'complete'"); do
		[ -s "$OUTS/soak/jobs/$j.wav" ] || bad_out=$((bad_out + 1))
	done
	strays=$(ls -a "$OUTS/soak/jobs" | grep -c attempt)
	same=yes
	ids=$(pg_sql "SELECT job_id FROM mixfs_jobs WHERE session_id = 'soak' ORDER BY 1")
	for h in $HOSTS; do
		wait_for 3 sh -c "[ \"\$(ls '$T/$h/sessions/soak/jobs' | sort)\" = \"$ids\" ]" || same="no ($h)"
	done
	diag "round $r: $fault; $n_acked acknowledged, $(echo "$rows" | grep -c .) rows"
	if [ "$drained" = yes ] && [ "$dup" = 0 ] && [ "$lost" = 0 ] && [ "$over" = 0 ] &&
		[ "$bad_out" = 0 ] && [ "$strays" = 0 ] && [ "$same" = yes ]; then
		ok "round $r ($fault): nothing lost or doubled, all ended, mixes whole, hosts agree"
	else
		not_ok "round $r ($fault): drained $drained, doubled $dup, lost $lost, attempts>3 $over, missing mixes $bad_out, stray files $strays, hosts agree $same"
	fi
done
complete=$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE state = 'complete'")
retried=$(pg_sql "SELECT count(*) FROM mixfs_jobs WHERE attempts > 1")
diag "$(cat "$T"/acked.* | wc -l) drops acknowledged, $complete complete, $retried ran more than once"
done_testing
