#!/bin/sh
# run_throughput.sh - a render host's throughput: a batch of 20 requests over
# one session (8 stereo stems of 30 s, mastered) dropped at once into a
# mount with workers=1 and workers=2, against running `mixfs render` on the
# same batch back to back (and two at a time), same run.
set -eu
B=${B:-build/bench}
mixfs=$(pwd)/$B/mixfs
sc=${SCRATCH:?}
. tests/lib/audio.sh
. tests/lib/mount.sh
MIXFS=$mixfs
N=20

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
per_min() { awk -v n="$N" -v t="$1" 'BEGIN { printf "%.1f", n * 60 / t }'; }

PER_CHANNEL=1 sh tests/lib/session.sh "$sc/t8" 30
stems=$(awk '{ print $1 }' "$sc/t8/truth")
request_from_truth "$sc/t8" $stems >"$sc/treq.json"
cat "$sc"/t8/stems/*.wav >/dev/null

# back to back, one at a time, then two at a time
solo_run() {
	t0=$(now)
	for i in $(seq 1 $N); do "$mixfs" render "$sc/t8" "$sc/treq.json" "$sc/t.wav" >/dev/null 2>&1; done
	secs "$t0" "$(now)"
}
duo_run() {
	t0=$(now)
	for i in $(seq 1 $((N / 2))); do
		"$mixfs" render "$sc/t8" "$sc/treq.json" "$sc/ta.wav" >/dev/null 2>&1 &
		"$mixfs" render "$sc/t8" "$sc/treq.json" "$sc/tb.wav" >/dev/null 2>&1
		wait
	done
	secs "$t0" "$(now)"
}

# the same batch dropped at once through the mount
through() {
	rm -rf "$sc/tmedia" "$sc/tmnt"
	mkdir -p "$sc/tmedia/t8/stems" "$sc/tmedia/t8/jobs"
	cp "$sc"/t8/stems/*.wav "$sc/tmedia/t8/stems/"
	mixfs_mount "$sc/tmedia" "$sc/tmnt" "workers=$1,job_ttl=1"
	t0=$(now)
	for i in $(seq 1 $N); do cp "$sc/treq.json" "$sc/tmnt/sessions/t8/requests/r$i.json"; done
	for i in $(seq 1 $N); do
		cat "$sc/tmnt/sessions/t8/jobs/$(cat "$sc/tmnt/sessions/t8/requests/r$i.json")/wait" >/dev/null
	done
	secs "$t0" "$(now)"
	mixfs_unmount
}
# each way three times, interleaved (the machine is shared; the best is
# each way's own time)
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; }
solo=999999 duo=999999 w1=999999 w2=999999
for round in 1 2 3; do
	solo=$(min "$solo" "$(solo_run)")
	w1=$(min "$w1" "$(through 1)")
	duo=$(min "$duo" "$(duo_run)")
	w2=$(min "$w2" "$(through 2)")
done
rm -rf "$sc/tmedia" "$sc/tmnt" "$sc/t8" "$sc"/t*.wav

echo "## A render host's throughput: $N mastered mixes of 8 stems x 30 s"
echo "| how | time | mixes per minute |"
echo "|---|---|---|"
echo "| mixfs render, back to back (best of 3) | $solo s | $(per_min "$solo") |"
echo "| mixfs render, two at a time (best of 3) | $duo s | $(per_min "$duo") |"
echo "| dropped at once, workers=1 (best of 3) | $w1 s | $(per_min "$w1") |"
echo "| dropped at once, workers=2 (best of 3) | $w2 s | $(per_min "$w2") |"
awk -v a="$w1" -v b="$solo" -v c="$w2" -v d="$duo" 'BEGIN {
	printf "\nthe queue and tree add %.1f%% with one worker and %.1f%% with two (target: under 5%%).\n",
		(a / b - 1) * 100, (c / d - 1) * 100 }'
