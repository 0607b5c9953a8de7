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

# 2. a full MEDIA_DIR: MEDIA_DIR and the outputs on small filesystems of
# their own. A record write that fails while a job runs must not kill the
# daemon; the tree shows what the disk holds; once space is freed the job
# ends (in error, saying why) without a restart, and new drops work.
mkdir -p "$T/small" "$T/outs"
mount -t tmpfs -o size=24m mixfs-test "$T/small"
mount -t tmpfs -o size=64m mixfs-test "$T/outs"
mixfs_mount "$T/small" "$M" workers=1,outputs=$T/outs || { echo "Bail out! cannot mount"; exit 1; }
mkdir "$M/sessions/full"
stems "$M/sessions/full/stems" 40
disk_state() { sed -n 's/.*"state":[[:space:]]*"\([a-z_]*\)".*/\1/p' "$T/small/full/jobs/$1.json"; }
fill() { dd if=/dev/zero of="$T/small/filler" bs=64k 2>/dev/null; sync; }
running() { case "$(state_of full "$1")" in loading_stems|aligning_stems|processing_tracks|mixing) return 0 ;; esac; return 1; }
echo '{}' >"$M/sessions/full/requests/one.json"
j=$(cat "$M/sessions/full/requests/one.json")
wait_for 20 running "$j"
fill
sleep 3
check "a record write failing mid-job leaves the daemon serving" kill -0 "$MIXFS_PID"
check "... the mount answers" test -f "$M/stats"
same_state() { _t=$(state_of "$1" "$2"); [ -n "$_t" ] && [ "$_t" = "$(disk_state "$2")" ]; }
check "... and the tree shows what the disk holds ($(state_of full "$j") / $(disk_state "$j"))" \
	same_state full "$j"
timeout 1 cat "$M/sessions/full/jobs/$j/wait" >/dev/null 2>&1
check "... which is not final yet: wait blocks" test $? = 124
echo '{}' >"$T/req.json"
check "a drop on the full disk fails at close with ENOSPC" \
	sh -c "! cp '$T/req.json' '$M/sessions/full/requests/nospace.json' 2>'$T/cp.err' && grep -q 'No space left' '$T/cp.err'"
check "... and leaves no record and no index behind" \
	sh -c "! grep -ls nospace.json '$T/small/full/jobs/'*.json && test \$(ls '$T/small/jobs_index' | wc -l) = 1"
check "... nor a receipt" test ! -e "$M/sessions/full/requests/nospace.json"
check "cancel on the stuck job says why it cannot act" \
	sh -c "! echo cancel | dd of='$M/sessions/full/jobs/$j/ctl' conv=notrunc 2>'$T/ctl.err' && grep -q 'No space left' '$T/ctl.err'"
rm -f "$T/small/filler"
check "once space is freed, the job ends without a restart" test "$(waits full "$j" 15)" = error
check "... its error names the cause: $(cat "$M/sessions/full/jobs/$j/error")" \
	grep -q "No space left on device" "$M/sessions/full/jobs/$j/error"
check "... the disk agrees" test "$(disk_state "$j")" = error
check "... and no partial output is left" sh -c "! ls -A '$T/outs/full/jobs' 2>/dev/null | grep -q ."
echo '{}' >"$M/sessions/full/requests/two.json"
j2=$(cat "$M/sessions/full/requests/two.json")
check "and the next drop completes" test "$(waits full "$j2" 30)" = complete

# the outputs folder full: the export fails, saying so, and leaves nothing
dd if=/dev/zero of="$T/outs/filler" bs=64k 2>/dev/null
echo '{}' >"$M/sessions/full/requests/three.json"
j3=$(cat "$M/sessions/full/requests/three.json")
check "a job whose mix has no room ends in error" test "$(waits full "$j3" 30)" = error
check "... saying so: $(cat "$M/sessions/full/jobs/$j3/error")" grep -q "No space left on device" "$M/sessions/full/jobs/$j3/error"
check "... with no partial file left" sh -c "! ls -A '$T/outs/full/jobs' | grep -q '$j3\|^\.'"
rm -f "$T/outs/filler"

# 3. the session's jobs/ moved away while a job runs, then put back
echo '{}' >"$M/sessions/full/requests/four.json"
j4=$(cat "$M/sessions/full/requests/four.json")
wait_for 20 running "$j4"
mv "$T/small/full/jobs" "$T/small/full/jobs.away"
sleep 2
check "jobs/ moved away mid-job: the daemon lives" kill -0 "$MIXFS_PID"
mv "$T/small/full/jobs.away" "$T/small/full/jobs"
check "... and once it is back the job ends" sh -c "case \$(timeout 20 cat '$M/sessions/full/jobs/$j4/wait') in complete|error) exit 0;; esac; exit 1"
check "... the disk agrees with the tree" same_state full "$j4"
mixfs_unmount
check "the daemon exits 0 after all that" test "$MIXFS_STATUS" = 0
check "records already written stay intact: $(python3 "$here/../lib/store_check.py" "$T/small" "$T/outs" | tail -1)" \
	python3 "$here/../lib/store_check.py" "$T/small" "$T/outs" --final

# 4. hostile names and requests: refused with a clear error, nothing made
mixfs_mount "$T/media" "$M" workers=1 || { echo "Bail out! cannot mount"; exit 1; }
H=$M/sessions/hostile
mkdir "$H"
stems "$H/stems" 1
n255=$(printf 'n%.0s' $(seq 1 250)).json
echo '{}' >"$H/requests/$n255"
first=$(cat "$H/requests/$n255")
jobs_now() { ls "$H/jobs" | wc -l; }
before=$(jobs_now)
check "a 256-byte name fails with ENAMETOOLONG" \
	sh -c "! cp '$T/req.json' '$H/requests/x$n255' 2>'$T/e' && grep -q 'File name too long' '$T/e'"
check "... and makes no job beside the 255-byte one" test "$(jobs_now)" = "$before"
check "... whose receipt is unchanged" test "$(cat "$H/requests/$n255")" = "$first"
long=$(printf 'x%.0s' $(seq 1 300))
check "a 300-byte name fails with ENAMETOOLONG" \
	sh -c "! cp '$T/req.json' '$H/requests/$long' 2>'$T/e' && grep -q 'File name too long' '$T/e'"
bad=$(printf 'bad\377\376.json')
check "a name that is not UTF-8 is refused" sh -c "! cp '$T/req.json' '$H/requests/$bad' 2>/dev/null"
nl=$(printf 'a\nb.json')
check "a name with a newline is refused" sh -c "! cp '$T/req.json' '$H/requests/$nl' 2>/dev/null"
check "... and none of them made a job" test "$(jobs_now)" = "$before"
awk 'BEGIN { printf "{\"stems\": ["; for (i = 0; i < 65; i++) printf "%s{\"file\": \"s%d.wav\"}", i ? "," : "", i; print "]}" }' >"$T/many.json"
check "65 stems fail at close (EINVAL)" sh -c "! cp '$T/many.json' '$H/requests/many.json' 2>/dev/null"
check "... with an error naming the limit: $(cat "$H/jobs/$(cat "$H/requests/many.json")/error")" \
	grep -q "at most 64" "$H/jobs/$(cat "$H/requests/many.json")/error"
awk 'BEGIN { printf "{\"x\": "; for (i = 0; i < 999; i++) printf "["; for (i = 0; i < 999; i++) printf "]"; print "}" }' >"$T/deep.json"
check "999-deep nesting fails at close" sh -c "! cp '$T/deep.json' '$H/requests/deep.json' 2>/dev/null"
check "... naming the nesting: $(cat "$H/jobs/$(cat "$H/requests/deep.json")/error")" \
	grep -q "nested deeper than" "$H/jobs/$(cat "$H/requests/deep.json")/error"
python3 -c 'import sys; sys.stdout.buffer.write(b"{\"x\": \"" + b"\x01" * (1024 * 1024 - 16) + b"\"}")' >"$T/ctl.json"
cp "$T/ctl.json" "$H/requests/ctl.json" 2>/dev/null
jctl=$(cat "$H/requests/ctl.json")
# a stem at 1 Hz, and one of no bytes
python3 -c '
import struct, sys
data = b"\0\0" * 2400
hdr = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, int(sys.argv[1]), int(sys.argv[1]) * 2, 2, 16) + b"data" + struct.pack("<I", len(data))
open(sys.argv[2], "wb").write(hdr + data)' 1 "$H/stems/onehz.wav"
: >"$H/stems/empty.wav"
# a header claiming 2^31 frames over 4.8 KB of data
python3 -c '
import struct, sys
data = b"\0\0" * 2400
hdr = b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 48000, 96000, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFE0)
open(sys.argv[1], "wb").write(hdr + data)' "$H/stems/huge.wav"
echo '{"stems": [{"file": "a.wav"}, {"file": "onehz.wav"}]}' >"$H/requests/onehz.json"
j1=$(cat "$H/requests/onehz.json")
check "a 1 Hz stem fails its job" test "$(waits hostile "$j1")" = error
check "... naming the rate: $(cat "$H/jobs/$j1/error")" grep -q "onehz.wav.*sample rate 1 Hz" "$H/jobs/$j1/error"
echo '{"stems": [{"file": "empty.wav"}]}' >"$H/requests/empty.json"
j0=$(cat "$H/requests/empty.json")
check "a 0-byte stem fails its job, naming it: $(cat "$H/jobs/$j0/error")" \
	sh -c "[ \"\$(timeout 20 cat '$H/jobs/$j0/wait')\" = error ] && grep -q empty.wav '$H/jobs/$j0/error'"
echo '{"stems": [{"file": "huge.wav"}]}' >"$H/requests/huge.json"
jh=$(cat "$H/requests/huge.json")
check "a stem whose header claims 2^31 frames fails its job, naming it: $(cat "$H/jobs/$jh/error")" \
	sh -c "[ \"\$(timeout 20 cat '$H/jobs/$jh/wait')\" = error ] && grep -q huge.wav '$H/jobs/$jh/error'"
check "... and leaves no mix behind" sh -c "! ls '$T/media/.mix_outputs/hostile/jobs/' 2>/dev/null | grep -q '$jh'"
mixfs_unmount
mixfs_mount "$T/media" "$M" workers=1 || { echo "Bail out! cannot remount"; exit 1; }
check "after a remount the 1 MiB control-byte request is still there" test "$(cat "$H/jobs/$jctl/state")" = error
check "... and no record was moved aside" sh -c "! ls '$T/media/hostile/jobs' | grep -q corrupt"
check "... the deep one is there too" test "$(cat "$H/jobs/$(cat "$H/requests/deep.json")/state")" = error
mixfs_unmount

# 5. symlinks planted in a session by a user who can write MEDIA_DIR on the
# host: the daemon (root) never follows one, at any level
mixfs_mount "$T/media" "$M" workers=1 || { echo "Bail out! cannot mount"; exit 1; }
mkdir -m 700 "$T/private"
sox -n -r 48000 -b 24 -c 2 "$T/private/secret.wav" synth 1 sine 1234 gain -6
printf 'root only\n' >"$T/private/notes.txt"
mkdir "$M/sessions/sym"
stems "$M/sessions/sym/stems" 1
E=$T/media/sym
ln -s "$T/private/secret.wav" "$E/stems/escape.wav"
echo '{"stems": [{"file": "a.wav"}, {"file": "escape.wav"}]}' >"$M/sessions/sym/requests/esc.json"
je=$(cat "$M/sessions/sym/requests/esc.json")
check "a stem symlinked to a real WAV outside the session fails its job" test "$(waits sym "$je")" = error
check "... naming it: $(cat "$M/sessions/sym/jobs/$je/error")" grep -q "escape.wav.*symlink" "$M/sessions/sym/jobs/$je/error"
check "reading that symlink through the mount does not give the private file" \
	sh -c "! cat '$M/sessions/sym/stems/escape.wav' 2>/dev/null | cmp -s - '$T/private/secret.wav'"
rm "$E/stems/escape.wav"
mv "$E/stems" "$E/stems.real"
ln -s "$T/private" "$E/stems"
echo '{}' >"$M/sessions/sym/requests/all.json"
ja=$(cat "$M/sessions/sym/requests/all.json")
check "stems/ replaced by a symlink to a root-only folder: the {} job fails" test "$(waits sym "$ja")" = error
check "... saying so: $(cat "$M/sessions/sym/jobs/$ja/error")" grep -q "symlink" "$M/sessions/sym/jobs/$ja/error"
check "... and no mix was made from the private file" test ! -e "$M/sessions/sym/jobs/$ja/final_mix.wav"
check "... and ls of stems/ through the mount does not list it" sh -c "! ls '$M/sessions/sym/stems/' 2>/dev/null | grep -q secret"
rm "$E/stems"
mv "$E/stems.real" "$E/stems"
mv "$E/jobs" "$E/jobs.real"
mkdir -m 700 "$T/rootjobs"
ln -s "$T/rootjobs" "$E/jobs"
check "jobs/ replaced by a symlink: a drop fails at close" sh -c "! cp '$T/req.json' '$M/sessions/sym/requests/j.json' 2>/dev/null"
check "... and nothing is written into the folder it points at" test -z "$(ls -A "$T/rootjobs")"
rm "$E/jobs"
mv "$E/jobs.real" "$E/jobs"
ln -s "$T/private" "$T/media/evil"
check "a session that is a symlink is no session" sh -c "! ls '$M/sessions' | grep -qx evil && ! ls '$M/sessions/evil/stems' 2>/dev/null"
mixfs_unmount
check "the daemon exits 0" test "$MIXFS_STATUS" = 0
rm "$T/media/evil"

# 6. files changed behind the daemon's back
mixfs_mount "$T/media" "$M" workers=1 || { echo "Bail out! cannot mount"; exit 1; }
B=$M/sessions/back
mkdir "$B"
stems "$B/stems" 1
for n in 1 2 3 4; do echo '{}' >"$B/requests/r$n.json"; done
j1=$(cat "$B/requests/r1.json") j2=$(cat "$B/requests/r2.json")
j3=$(cat "$B/requests/r3.json") j4=$(cat "$B/requests/r4.json")
for j in $j1 $j2 $j3 $j4; do waits back "$j" >/dev/null; done
rm "$T/media/.mix_outputs/back/jobs/$j1.wav"
check "an output removed: the job's final_mix.wav is gone, cleanly" sh -c "! cat '$B/jobs/$j1/final_mix.wav' >/dev/null 2>&1"
check "... its folder still lists" sh -c "ls '$B/jobs/$j1' >/dev/null"
check "... and rmdir deletes the job" rmdir "$B/jobs/$j1"
rm "$T/media/back/jobs/$j2.json"
printf '{"job_id": ' >"$T/media/back/jobs/$j3.json"
sed -i 's/"progress":[^,]*/"progress": 7/' "$T/media/back/jobs/$j4.json"
check "a record deleted, one corrupted, one edited by another process: the daemon serves on" \
	sh -c "ls '$B/jobs' >/dev/null && cat '$B/jobs/$j4/state' >/dev/null"
mixfs_unmount
mixfs_mount "$T/media" "$M" workers=1 || { echo "Bail out! cannot remount"; exit 1; }
check "at the next mount the deleted record's job is gone" test ! -e "$B/jobs/$j2"
check "... the corrupt one is moved aside, not shown" sh -c "[ -e '$T/media/back/jobs/$j3.json.corrupt' ] && [ ! -e '$B/jobs/$j3' ]"
check "... the edited one shows the edit" test "$(cat "$B/jobs/$j4/progress")" = 7
check "... while its mix and index file stay until they would have expired" \
	test -e "$T/media/jobs_index/$j2.json" -a -e "$T/media/.mix_outputs/back/jobs/$j2.wav"
# a session removed while a job of it runs
sox -n -r 48000 -b 24 -c 2 "$B/stems/long.wav" synth 40 sine 300 gain -12
echo '{"stems": [{"file": "long.wav"}]}' >"$B/requests/long.json"
jl=$(cat "$B/requests/long.json")
wait_for 20 sh -c "case \$(cat '$B/jobs/$jl/state') in loading_stems|aligning_stems|processing_tracks|mixing) exit 0;; esac; exit 1"
rm -rf "$T/media/back"
check "a session removed mid-job: the daemon lives" kill -0 "$MIXFS_PID"
check "... and its job leaves the tree within seconds" wait_for 10 sh -c "! ls '$M/jobs' | grep -q $jl"
check "... so a wait on it ends" sh -c "timeout 5 cat '$M/jobs/$jl/wait' >/dev/null 2>&1; [ \$? != 124 ]"
check "... and the session is gone from sessions/" sh -c "! ls '$M/sessions' | grep -qx back"
mixfs_unmount
check "the daemon exits 0" test "$MIXFS_STATUS" = 0

done_testing
