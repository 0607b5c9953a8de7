#!/bin/sh
# t_jobs.sh - jobs that run: a dropped request becomes a mix on target,
# live progress, two workers, cancel, a bad stem, and crash recovery.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
. "$here/../lib/audio.sh"
: "${MIXFS:?}"
T=$(mktemp -d /tmp/mixfs-jobs.XXXXXX)
trap mixfs_cleanup EXIT
M=$T/mnt
S=$M/sessions/s1
OUT=$T/media/.mix_outputs/s1
sh "$here/../lib/session.sh" "$T/fixture" 30 || { echo "Bail out! cannot render the session"; exit 1; }
mixfs_mount "$T/media" "$M" workers=1 || { echo "Bail out! cannot mount"; exit 1; }
mkdir "$S"
cp "$T"/fixture/stems/*.wav "$S/stems/"
all="drums.wav bass.wav keys.wav pads.wav lead.wav voice.wav"
request_from_truth "$T/fixture" $all >"$T/mix.json"
# the cases that catch a job mid-mix use a request that keeps it busy long
# enough to be caught on any machine: every stem processed, 96 kHz out
chain='"highpass_hz": 60, "eq": [{"type": "peak", "freq_hz": 2500, "gain_db": 1.5}], "compressor": {"threshold_db": -24, "ratio": 3}'
sed "s/\"pan\": \([-0-9.]*\)}/\"pan\": \1, $chain}/g; s/^{/{\"sample_rate\": 96000, /" "$T/mix.json" >"$T/slow.json"
grep -q '"compressor"' "$T/slow.json" || { echo "Bail out! cannot build the slow request"; exit 1; }
state_of() { cat "$S/jobs/$1/state" 2>/dev/null; }
# mid-mix: a stage with time left before the job can finish
is_running() { case "$(state_of "$1")" in mixing|mastering) return 0 ;; esac; return 1; }
drop() { cp "$2" "$S/requests/$1" && cat "$S/requests/$1"; }

# 1. a request becomes a mix on target, with live progress
j=$(drop take1.json "$T/slow.json")
: >"$T/progress"
for i in $(seq 1 2400); do # two minutes at most
	st=$(state_of "$j")
	cat "$S/jobs/$j/progress" >>"$T/progress" 2>/dev/null
	case "$st" in complete|error|"") break ;; esac
	sleep 0.05
done
check "cat wait returns complete" test "$(cat "$S/jobs/$j/wait")" = complete
check "progress never went down over $(wc -l <"$T/progress") reads" \
	awk 'NR > 1 && $1 < last { exit 1 } { last = $1 } END { exit !(NR > 3) }' "$T/progress"
check "progress ends at 100" test "$(cat "$S/jobs/$j/progress")" = 100
check "progress was seen strictly between 0 and 100 while it ran" \
	awk '$1 > 0 && $1 < 100 { seen = 1 } END { exit !seen }' "$T/progress"
set -- $(loudness "$S/jobs/$j/final_mix.wav")
check "the mix read through the tree measures $1 LUFS (target -14 +-0.1)" within "$1" -14 0.1
check "its true peak $2 dBTP is at or under -1" le "$2" -1
check "the session's final_mix.wav is that mix" cmp -s "$S/final_mix.wav" "$S/jobs/$j/final_mix.wav"
check "its own output is on disk" test -f "$OUT/jobs/$j.wav"
for stage in loading_stems aligning_stems processing_tracks mixing mastering exporting complete; do
	check "the log has a timed line for $stage" grep -q "Z $stage" "$S/jobs/$j/log"
done
check "the record has the result" grep -q '"integrated_lufs"' "$S/jobs/$j/job.json"
check "the record has expires_at" grep -q '"expires_at":.*"20' "$S/jobs/$j/job.json"
# mounted without job_ttl / failed_ttl: the defaults, 48 h and 24 h
ttl_hours() {
	python3 -c 'import json, sys, datetime as d
r = json.load(open(sys.argv[1]))
t = lambda k: d.datetime.fromisoformat(r[k].replace("Z", "+00:00"))
print((t("expires_at") - t("finished_at")).total_seconds() / 3600)' "$1"
}
check "a complete job expires 48 h after it finished, by default ($(ttl_hours "$S/jobs/$j/job.json"))" \
	test "$(ttl_hours "$S/jobs/$j/job.json")" = 48.0

# 1b. a text read again through a descriptor opened before a change is
# the text of its open, whole: not cut to the size the kernel learnt since
# (a job's `state` opened at "exporting", 10 bytes, read again at
# "complete", 9)
jr=$(drop held.json "$T/slow.json")
held=$(python3 - "$S/jobs/$jr/state" <<'PY'
import os, sys, time
path = sys.argv[1]
end = time.time() + 120
fd, first = None, b""
while time.time() < end:
    fd = os.open(path, os.O_RDONLY)
    first = os.pread(fd, 4096, 0)
    if first in (b"mastering\n", b"exporting\n", b"complete\n", b"error\n"):
        break
    os.close(fd)
while time.time() < end and open(path, "rb").read() not in (b"complete\n", b"error\n"):
    time.sleep(0.001)
os.stat(path)  # the kernel learns the new size
again = os.pread(fd, 4096, 0)
print("%s %s" % (first.decode().strip(), again.decode().strip() + ("" if again.endswith(b"\n") else "(cut)")))
PY
)
set -- $held
check "a descriptor opened at ${1:-?} reads the same text again after the job ended (${2:-?})" \
	test "${1:-a}" = "${2:-b}"
check "... (caught while the job ran: ${1:-?})" test "${1:-}" = mastering -o "${1:-}" = exporting
check "... and the job completed" test "$(cat "$S/jobs/$jr/wait")" = complete

# 2. a stem that cannot be read fails its job, naming the file; others go on
printf 'not audio' >"$S/stems/broken.wav"
jb=$(drop broken.json "$(echo '{"stems": [{"file": "drums.wav"}, {"file": "broken.wav"}]}' >"$T/b.json"; echo "$T/b.json")")
jg=$(drop good.json "$T/mix.json")
check "the broken-stem job ends in error" test "$(cat "$S/jobs/$jb/wait")" = error
check "... naming the file: $(cat "$S/jobs/$jb/error")" grep -q "stems/broken.wav" "$S/jobs/$jb/error"
check "the next job still completes" test "$(cat "$S/jobs/$jg/wait")" = complete
check "a failed job expires 24 h after it finished, by default ($(ttl_hours "$S/jobs/$jb/job.json"))" \
	test "$(ttl_hours "$S/jobs/$jb/job.json")" = 24.0
check "the session's final_mix.wav is now that newer mix (cache dropped on replace)" \
	cmp -s "$S/final_mix.wav" "$OUT/jobs/$jg.wav"
rm "$S/stems/broken.wav"

# 3. cancel mid-mix
jc=$(drop cancel.json "$T/slow.json")
wait_for 20 is_running "$jc"
echo cancel >"$S/jobs/$jc/ctl"
check "cancel stops a running job within a second" sh -c "[ \"\$(timeout 1 cat '$S/jobs/$jc/wait')\" = error ]"
check "... with the error cancelled" test "$(cat "$S/jobs/$jc/error")" = cancelled
check "... and no temp files left in the outputs" sh -c "! ls -A '$OUT' '$OUT/jobs' | grep -q '^\\.'"

# cancel racing the worker that takes the job: every job ends final, the
# daemon lives on
ids=
for i in 1 2 3 4 5 6 7 8; do ids="$ids $(drop race$i.json "$T/mix.json")"; done
for id in $ids; do echo cancel >"$S/jobs/$id/ctl"; done
finals=0
for id in $ids; do
	case "$(timeout 20 cat "$S/jobs/$id/wait")" in complete|error) finals=$((finals + 1)) ;; esac
done
check "cancels racing the worker: all 8 jobs end final ($finals)" test "$finals" = 8
check "... and the daemon is still serving" kill -0 "$MIXFS_PID"

# 4. two workers run two jobs at once
mixfs_unmount
mixfs_mount "$T/media" "$M" workers=2
ja=$(drop a.json "$T/slow.json")
jb=$(drop b.json "$T/slow.json")
both() { is_running "$ja" && is_running "$jb"; }
check "two workers run two jobs at once" wait_for 30 both
check "stats shows both workers busy" wait_for 30 grep -q "workers_busy: 2" "$M/stats"
cat "$S/jobs/$ja/wait" "$S/jobs/$jb/wait" >/dev/null

# 5. kill -9 mid-mix, then remount: the job completes
jk=$(drop killed.json "$T/slow.json")
wait_for 20 is_running "$jk"
kill -9 "$MIXFS_PID"
wait "$MIXFS_PID" 2>/dev/null
MIXFS_PID=
fusermount3 -u "$M" 2>/dev/null || umount -l "$M"
check "after kill -9 the record is still active on disk" \
	grep -q '"state":.*"\(mixing\|mastering\|exporting\|processing_tracks\)"' "$T/media/s1/jobs/$jk.json"
mixfs_mount "$T/media" "$M" workers=1
check "after remount the killed job completes" test "$(timeout 60 cat "$S/jobs/$jk/wait")" = complete
check "... on its second attempt" grep -q '"attempts":.*2' "$S/jobs/$jk/job.json"
check "... and no temp file survived the crash" sh -c "! ls -A '$OUT' '$OUT/jobs' | grep -q '^\\.'"

# 6. SIGTERM mid-mix: exits within 5 s, leaves the job queued, remount runs it
jt=$(drop term.json "$T/slow.json")
wait_for 20 is_running "$jt"
kill -TERM "$MIXFS_PID"
start=$(date +%s)
mixfs_reap
took=$(($(date +%s) - start))
check "SIGTERM mid-mix: exit status $MIXFS_STATUS within 5 s (took $took s)" test "$MIXFS_STATUS" = 0 -a "$took" -le 5
check "... and the job is queued on disk" grep -q '"state":.*"queued"' "$T/media/s1/jobs/$jt.json"
mixfs_mount "$T/media" "$M" workers=1
check "after remount the job completes" test "$(timeout 60 cat "$S/jobs/$jt/wait")" = complete

# 7. three crashes in a row end in "interrupted"
ji=$(drop crash.json "$T/slow.json")
for round in 1 2 3; do
	wait_for 30 is_running "$ji"
	kill -9 "$MIXFS_PID"
	wait "$MIXFS_PID" 2>/dev/null
	MIXFS_PID=
	fusermount3 -u "$M" 2>/dev/null || umount -l "$M"
	mixfs_mount "$T/media" "$M" workers=1
done
check "three crashes in a row end in error" test "$(timeout 30 cat "$S/jobs/$ji/wait")" = error
check "... with the message interrupted" test "$(cat "$S/jobs/$ji/error")" = interrupted
check "... after 3 attempts" grep -q '"attempts":.*3' "$S/jobs/$ji/job.json"
mixfs_unmount
check "the daemon exits 0 at the end" test "$MIXFS_STATUS" = 0
done_testing
