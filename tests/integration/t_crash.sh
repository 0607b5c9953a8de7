#!/bin/sh
# t_crash.sh - the crash loop: drops from several processes and jobs
# running while the daemon is killed with SIGKILL at random moments, then
# remounted and checked each time (tests/lib/store_check.py): every record
# parses, every acknowledged drop has exactly one job, records and index
# files match, every complete job's mix is whole, no temp file survives.
# After the last recovery every job must finish. CRASH_KILLS sets the
# number of kills (5 here; `make soak` runs 30).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
: "${MIXFS:?}"
kills=${CRASH_KILLS:-5}
droppers=4
T=$(mktemp -d /tmp/mixfs-crash.XXXXXX)
trap 'touch "$T/stop"; wait; mixfs_cleanup' EXIT
M=$T/mnt
MEDIA=$T/media
OUTS=$MEDIA/.mix_outputs
check_store() { python3 "$here/../lib/store_check.py" "$MEDIA" "$OUTS" --acked "$T"/acked.* "$@"; }

mixfs_mount "$MEDIA" "$M" workers=0 || { echo "Bail out! cannot mount"; exit 1; }
for d in $(seq 1 $droppers); do
	mkdir "$M/sessions/c$d"
	sox -n -r 48000 -b 24 -c 2 "$M/sessions/c$d/stems/a.wav" synth 0.5 sine $((200 + d * 50)) gain -12
done
echo '{}' >"$T/req.json"
mixfs_unmount

# dropper N K: drop requests into session cN until told to stop, a few a
# second (as fast as the workers mix them); a name whose cp succeeded (its
# close() returned 0) is acknowledged
dropper() {
	_i=0
	while [ ! -e "$T/stop" ]; do
		_i=$((_i + 1))
		_n=d$1-$2-$_i.json
		if cp "$T/req.json" "$M/sessions/c$1/requests/$_n" 2>/dev/null; then
			echo "c$1/$_n" >>"$T/acked.$1"
		fi
		sleep 0.2
	done
}

survived=0
for k in $(seq 1 "$kills"); do
	rm -f "$T/stop"
	mixfs_mount "$MEDIA" "$M" workers=2 || { not_ok "mount before kill $k"; break; }
	pids=
	for d in $(seq 1 $droppers); do dropper "$d" "$k" & pids="$pids $!"; done
	sleep "$(awk -v s="$k$$" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 1.2 }')"
	kill -9 "$MIXFS_PID"
	wait "$MIXFS_PID" 2>/dev/null
	MIXFS_PID=
	touch "$T/stop"
	wait $pids
	fusermount3 -u "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	# recover with no workers, so the check sees what the mount left
	mixfs_mount "$MEDIA" "$M" workers=0 || { not_ok "remount after kill $k"; break; }
	if check_store >"$T/check.$k"; then
		survived=$((survived + 1))
	else
		cat "$T/check.$k"
	fi
	mixfs_unmount
done
tail -1 "$T/check.$kills" 2>/dev/null
check "$survived of $kills kills (SIGKILL mid-drop, mid-job) left a store that checks out" \
	test "$survived" = "$kills"

mixfs_mount "$MEDIA" "$M" workers=2 || { echo "Bail out! cannot remount"; exit 1; }
all_final() { check_store --final >"$T/final" 2>&1; }
check "after the last recovery every job finishes" wait_for 240 all_final
tail -1 "$T/final"
acked=$(cat "$T"/acked.* | wc -l)
check "... and every one of the $acked acknowledged drops is there" check_store --final
mixfs_unmount
check "the daemon exits 0" test "$MIXFS_STATUS" = 0

done_testing
