#!/bin/sh
# t_load.sh - concurrency through the mount: 8 processes dropping 100
# requests each into one session while jobs run and the cleanup pass fires
# on every enqueue; the per-session cap under racing droppers; job.json
# read during state changes, and a job's texts read by racing readers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
: "${MIXFS:?}"
T=$(mktemp -d /tmp/mixfs-load.XXXXXX)
trap mixfs_cleanup EXIT
M=$T/mnt
S=$M/sessions/busy
echo '{}' >"$T/req.json"

mixfs_mount "$T/media" "$M" workers=2,max_jobs_per_session=1000 || { echo "Bail out! cannot mount"; exit 1; }
mkdir "$S"
sox -n -r 48000 -b 24 -c 2 "$S/stems/a.wav" synth 0.3 sine 220 gain -12

# readers of job.json while jobs change state: every read must parse
echo '{}' >"$S/requests/watched.json"
w=$(cat "$S/requests/watched.json")
mkdir "$T/reads"
(i=0; while [ $i -lt 1000 ]; do i=$((i + 1)); cat "$S/jobs/$w/job.json" >"$T/reads/$i" 2>/dev/null; done) &
rpid=$!

drop_100() {
	for i in $(seq 1 100); do
		cp "$T/req.json" "$S/requests/p$1-$i.json" && cat "$S/requests/p$1-$i.json" >>"$T/ids.$1"
	done
}
pids=
for p in 1 2 3 4 5 6 7 8; do drop_100 "$p" & pids="$pids $!"; done
wait $pids
wait "$rpid"
ids=$(cat "$T"/ids.* | sort -u | wc -l)
check "8 x 100 concurrent drops: 800 distinct job ids ($ids)" test "$ids" = 800
check "... 801 jobs in the tree with the watched one ($(ls "$S/jobs" | wc -l))" test "$(ls "$S/jobs" | wc -l)" = 801
check "... 801 receipts ($(ls "$S/requests" | wc -l))" test "$(ls "$S/requests" | wc -l)" = 801
check "... 801 records on disk" test "$(ls "$T/media/busy/jobs" | grep -c '\.json$')" = 801
check "... and 801 index files" test "$(ls "$T/media/jobs_index" | grep -c '\.json$')" = 801
parsed=$(python3 -c 'import json, os, sys
d = sys.argv[1]; n = 0
for f in os.listdir(d):
    t = open(os.path.join(d, f)).read()
    json.loads(t); n += 1
print(n)' "$T/reads" 2>&1)
check "1,000 reads of job.json during state changes all parse ($parsed)" test "$parsed" = 1000

mixfs_unmount

# readers racing a job whose text changes every few milliseconds (its
# progress): each read is one whole text, never a new text cut to an old
# size nor an old one padded to a new size
mixfs_mount "$T/media2" "$M" workers=1 || { echo "Bail out! cannot mount"; exit 1; }
S=$M/sessions/race
mkdir "$S"
sox -n -r 48000 -b 24 -c 2 "$S/stems/long.wav" synth 90 pinknoise gain -20
echo '{"stems": [{"file": "long.wav", "highpass_hz": 40, "compressor": {"threshold_db": -30, "ratio": 4}}]}' >"$T/long.json"
cp "$T/long.json" "$S/requests/long.json"
lj=$(cat "$S/requests/long.json")
bad=$(python3 - "$S/jobs/$lj" <<'PY'
import json, sys, threading
d = sys.argv[1]; bad = []; count = [0]
def read(name):
    with open(d + "/" + name, "rb") as f:
        return f.read()
def reader():
    for _ in range(3000):  # or until the job is final
        for name in ("job.json", "progress", "state"):
            t = read(name)
            count[0] += 1
            try:
                if name == "job.json":
                    json.loads(t)
                elif name == "progress":
                    assert t.endswith(b"\n") and 0 <= int(t) <= 100, t
                else:
                    assert t.endswith(b"\n") and t.strip().replace(b"_", b"").isalpha(), t
            except Exception as e:
                bad.append("%s: %r" % (name, e))
        if read("state") in (b"complete\n", b"error\n"):
            return
threads = [threading.Thread(target=reader) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print("%d reads, %d bad%s" % (count[0], len(bad), (": " + bad[0]) if bad else ""))
PY
)
check "3 readers racing a changing job: $bad" sh -c "echo '$bad' | grep -q ', 0 bad'"
check "... and the job completed" test "$(cat "$S/jobs/$lj/wait")" = complete
mixfs_unmount

# the cap holds under 8 racing droppers
mixfs_mount "$T/media" "$M" workers=0,max_jobs_per_session=50 || { echo "Bail out! cannot mount"; exit 1; }
mkdir "$M/sessions/capped"
race() { for i in $(seq 1 20); do cp "$T/req.json" "$M/sessions/capped/requests/r$1-$i.json" 2>/dev/null && echo ok; done >"$T/cap.$1"; }
pids=
for p in 1 2 3 4 5 6 7 8; do race "$p" & pids="$pids $!"; done
wait $pids
ok_n=$(cat "$T"/cap.* | wc -l)
check "max_jobs_per_session=50 under 8 racing droppers: 50 accepted ($ok_n)" test "$ok_n" = 50
check "... and 50 jobs exist ($(ls "$M/sessions/capped/jobs" | wc -l))" test "$(ls "$M/sessions/capped/jobs" | wc -l)" = 50
mixfs_unmount
check "the daemon exits 0" test "$MIXFS_STATUS" = 0

done_testing
