#!/bin/sh
# t_faults.sh - faults users hit: a worker left idle beside a queued job,
# a full disk during a job and at a drop, files changed behind the
# daemon's back. Each case here failed before its fix.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
: "${MIXFS:?}"
T=$(mktemp -d /tmp/mixfs-faults.XXXXXX)
trap 'fault_cleanup' EXIT
fault_cleanup() {
	_st=$?
	[ -n "${MIXFS_PID:-}" ] && { mixfs_unmount || true; }
	for _m in $(awk -v t="$T" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$_m" 2>/dev/null
	done
	rm -rf "$T"
	exit "$_st"
}
M=$T/mnt

# stems: two short synthetic tones, quick to mix
stems() {
	mkdir -p "$1"
	sox -n -r 48000 -b 24 -c 2 "$1/a.wav" synth "${2:-3}" sine 220 gain -12
	sox -n -r 48000 -b 24 -c 1 "$1/b.wav" synth "${2:-3}" sine 330 gain -12
}
state_of() { cat "$M/sessions/$1/jobs/$2/state" 2>/dev/null; }
waits() { timeout "${3:-20}" cat "$M/sessions/$1/jobs/$2/wait" 2>/dev/null; }

# 1. with cleanup_interval, every drop reaches the idle worker: the
# interval cleaner must not take the signal meant for a worker
mixfs_mount "$T/media" "$M" workers=1,cleanup_interval=60 || { echo "Bail out! cannot mount"; exit 1; }
mkdir "$M/sessions/ci"
stems "$M/sessions/ci/stems" 1
done_n=0
for i in 1 2 3 4 5 6 7 8; do
	echo '{}' >"$M/sessions/ci/requests/r$i.json"
	j=$(cat "$M/sessions/ci/requests/r$i.json")
	[ "$(waits ci "$j" 15)" = complete ] && done_n=$((done_n + 1))
done
check "with cleanup_interval set, 8 drops one after another all complete ($done_n)" test "$done_n" = 8
mixfs_unmount

done_testing
