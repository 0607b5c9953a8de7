#!/bin/sh
# run_audio.sh - the engine against its peers, and the tree's overhead on a
# whole job. 8 stereo stems of 180 s (48 kHz 24-bit, one at 44.1 kHz),
# mastered to -14 LUFS / -1 dBTP:
#   mixfs render          the whole pipeline in one process
#   sox -m + loudnorm x2  the peers' pipeline: resample, sum, then ffmpeg's
#                         two-pass loudnorm (linear) to the same target
# then peak memory at 180 s and 1,800 s, and drop-to-complete through a
# mount beside mixfs render of the same request.
set -eu
B=${B:-build/bench}
mixfs=$(pwd)/$B/mixfs
sc=${SCRATCH:?}
. tests/lib/audio.sh
. tests/lib/mount.sh
MIXFS=$mixfs

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
now() { date +%s.%N; }
# timed CMD...: run, print "WALL_S MAX_RSS_KB CPU_S" (user + system)
timed() { /usr/bin/time -f "%e %M %U %S" -o "$sc/time.out" "$@" >/dev/null 2>"$sc/cmd.err" || { cat "$sc/cmd.err"; exit 1; }; awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$sc/time.out"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; }

echo "## The engine: 8 stems x 180 s, mastered to -14 LUFS / -1 dBTP"
PER_CHANNEL=1 sh tests/lib/session.sh "$sc/b8" 180
stems=$(awk '{ print $1 }' "$sc/b8/truth")
REQUEST_EXTRA=', "master": {"target_lufs": -14, "true_peak_dbtp": -1}' \
	request_from_truth "$sc/b8" $stems >"$sc/req.json"
cat "$sc"/b8/stems/*.wav >/dev/null # warm the cache for everyone
# the floor: read, sum, write 24-bit, nothing else (bench/floor.c)
cc -O2 -o "$sc/floor" bench/floor.c $(pkg-config --cflags --libs sndfile)
# best of three, interleaved: the machine is shared, the minimum is the
# program's own time
ours_t=999999 ours_cpu=999999 floor_t=999999 floor_cpu=999999
for i in 1 2 3; do
	set -- $(timed "$mixfs" render "$sc/b8" "$sc/req.json" "$sc/ours.wav")
	ours_t=$(min "$ours_t" "$1") ours_cpu=$(min "$ours_cpu" "$3") ours_rss=$2
	set -- $(timed "$sc/floor" "$sc/floor.wav" "$sc"/b8/stems/*.wav)
	floor_t=$(min "$floor_t" "$1") floor_cpu=$(min "$floor_cpu" "$3")
done

peers() {
	parts=
	for f in $stems; do
		if [ "$(soxi -r "$sc/b8/stems/$f")" != 48000 ]; then
			sox -D "$sc/b8/stems/$f" -e floating-point -b 32 "$sc/r_$f" rate -v 48000
			parts="$parts -v 1 $sc/r_$f"
		else
			parts="$parts -v 1 $sc/b8/stems/$f"
		fi
	done
	sox -D -m $parts -e floating-point -b 32 "$sc/sum.wav"
	ffmpeg -nostats -hide_banner -i "$sc/sum.wav" \
		-af loudnorm=I=-14:TP=-1:LRA=11:print_format=json -f null - 2>"$sc/ln1.txt"
	m=$(awk -F'"' '/"input_i"/ { i = $4 } /"input_tp"/ { tp = $4 } /"input_lra"/ { l = $4 }
		/"input_thresh"/ { th = $4 } /"target_offset"/ { o = $4 }
		END { printf "measured_I=%s:measured_TP=%s:measured_LRA=%s:measured_thresh=%s:offset=%s", i, tp, l, th, o }' "$sc/ln1.txt")
	ffmpeg -nostats -hide_banner -y -i "$sc/sum.wav" \
		-af "loudnorm=I=-14:TP=-1:LRA=11:$m:linear=true" -ar 48000 -c:a pcm_s24le "$sc/peer.wav" 2>/dev/null
}
# ffmpeg alone, one pass: amix and loudnorm's dynamic mode
dyn() {
	set -- $stems
	inputs= labels=
	k=0
	for f in "$@"; do inputs="$inputs -i $sc/b8/stems/$f"; labels="$labels[$k:a]"; k=$((k + 1)); done
	ffmpeg -nostats -hide_banner -y $inputs -filter_complex \
		"${labels}amix=inputs=$k:normalize=0,aresample=48000,loudnorm=I=-14:TP=-1:LRA=11" \
		-ar 48000 -c:a pcm_s24le "$sc/dyn.wav" 2>/dev/null
}
peer_t=999999 dyn_t=999999
for i in 1 2; do
	t0=$(now)
	peers
	peer_t=$(min "$peer_t" "$(secs "$t0" "$(now)")")
	t0=$(now)
	dyn
	dyn_t=$(min "$dyn_t" "$(secs "$t0" "$(now)")")
done
set -- $(loudness "$sc/ours.wav")
ours_i=$1 ours_tp=$2
set -- $(loudness "$sc/peer.wav")
peer_i=$1 peer_tp=$2
set -- $(loudness "$sc/dyn.wav")
dyn_i=$1 dyn_tp=$2
x() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo "| pipeline | wall | CPU | x floor (wall / CPU) | integrated | true peak |"
echo "|---|---|---|---|---|---|"
echo "| the floor: read, sum, write 24-bit (best of 3) | $floor_t s | $floor_cpu s | 1.0x / 1.0x | - | - |"
echo "| mixfs render (best of 3) | $ours_t s | $ours_cpu s | $(x "$ours_t" "$floor_t") / $(x "$ours_cpu" "$floor_cpu") | $ours_i LUFS | $ours_tp dBTP |"
echo "| sox -m + ffmpeg loudnorm, 2 passes (best of 2) | $peer_t s | | $(x "$peer_t" "$floor_t") | $peer_i LUFS | $peer_tp dBTP |"
echo "| ffmpeg amix + loudnorm, 1 pass, dynamic (best of 2) | $dyn_t s | | $(x "$dyn_t" "$floor_t") | $dyn_i LUFS | $dyn_tp dBTP |"
awk -v a="$peer_t" -v b="$ours_t" -v c="$dyn_t" 'BEGIN { printf "\nmixfs is %.1fx faster than sox + two-pass loudnorm (target: 15x), %.1fx faster than ffmpeg in one pass.\n", a / b, c / b }'
awk -v a="$ours_cpu" -v b="$floor_cpu" -v c="$ours_t" -v d="$floor_t" 'BEGIN { printf "Against the floor: %.1fx its CPU time (target: 3x), %.1fx its wall time (target: 2x).\n", a / b, c / d }'
rm -f "$sc"/r_*.wav "$sc/sum.wav" "$sc/peer.wav" "$sc/dyn.wav" "$sc/floor.wav"

echo
echo "## Drop to complete through the mount, beside mixfs render"
mkdir -p "$sc/media/s8/stems" "$sc/media/s8/jobs"
cp "$sc"/b8/stems/*.wav "$sc/media/s8/stems/"
mixfs_mount "$sc/media" "$sc/mnt" workers=1
# interleaved, best of three each: both see the same machine
tree_t=999999 solo_t=999999
for i in 1 2 3; do
	t0=$(now)
	"$mixfs" render "$sc/b8" "$sc/req.json" "$sc/ours.wav" >/dev/null 2>&1
	solo_t=$(awk -v a="$solo_t" -v b="$(secs "$t0" "$(now)")" 'BEGIN { print (b < a ? b : a) }')
	t0=$(now)
	cp "$sc/req.json" "$sc/mnt/sessions/s8/requests/bench$i.json"
	jid=$(cat "$sc/mnt/sessions/s8/requests/bench$i.json")
	st=$(cat "$sc/mnt/sessions/s8/jobs/$jid/wait")
	tree_t=$(awk -v a="$tree_t" -v b="$(secs "$t0" "$(now)")" 'BEGIN { print (b < a ? b : a) }')
done
mixfs_unmount
echo "| path | time |"
echo "|---|---|"
echo "| mixfs render (best of 3) | $solo_t s |"
echo "| drop -> cat wait ($st) through the mount (best of 3) | $tree_t s |"
awk -v a="$tree_t" -v b="$solo_t" 'BEGIN { printf "\nthe tree and queue add %.1f%% (target: under 10%%).\n", (a / b - 1) * 100 }'
rm -rf "$sc/media" "$sc/mnt"

echo
echo "## 180 s against 1,800 s: time, CPU against the floor, peak memory"
mkdir -p "$sc/long/stems"
for f in $stems; do sox "$sc/b8/stems/$f" "$sc/long/stems/$f" repeat 9; done
cp "$sc/b8/truth" "$sc/long/truth"
cat "$sc"/long/stems/*.wav >/dev/null
set -- $(timed "$mixfs" render "$sc/long" "$sc/req.json" "$sc/long.wav")
long_t=$1 long_rss=$2 long_cpu=$3
set -- $(timed "$sc/floor" "$sc/floor.wav" "$sc"/long/stems/*.wav)
lfloor_t=$1 lfloor_cpu=$3
echo "| song | mixfs wall | mixfs CPU | floor wall / CPU | x floor (wall / CPU) | peak RSS |"
echo "|---|---|---|---|---|---|"
echo "| 180 s | $ours_t s | $ours_cpu s | $floor_t s / $floor_cpu s | $(x "$ours_t" "$floor_t") / $(x "$ours_cpu" "$floor_cpu") | $((ours_rss / 1024)) MB |"
echo "| 1,800 s | $long_t s | $long_cpu s | $lfloor_t s / $lfloor_cpu s | $(x "$long_t" "$lfloor_t") / $(x "$long_cpu" "$lfloor_cpu") | $((long_rss / 1024)) MB |"
rm -rf "$sc/long" "$sc/long.wav" "$sc/ours.wav" "$sc/floor.wav"

echo
echo "## Track processing: high-pass, three EQ bands and a compressor on every stem"
# the same stems and placement, unmastered, each with the chain; sox builds
# the same chain per stem (its compand stands in for the compressor) and
# sums, the way a script would without mixfs
chain='"highpass_hz": 60, "eq": [{"type": "lowshelf", "freq_hz": 120, "gain_db": -2}, {"type": "peak", "freq_hz": 2500, "gain_db": 1.5, "q": 1}, {"type": "highshelf", "freq_hz": 9000, "gain_db": 1}], "compressor": {"threshold_db": -24, "ratio": 3, "attack_ms": 10, "release_ms": 120}'
sed "s/\"pan\": \([-0-9.]*\)}/\"pan\": \1, $chain}/g; s/\"master\": {[^}]*}/\"master\": null/" "$sc/req.json" >"$sc/fxreq.json"
sed 's/"master": {[^}]*}/"master": null/' "$sc/req.json" >"$sc/plainreq.json"
sox_chain() {
	parts=
	for f in $stems; do
		sox -D "$sc/b8/stems/$f" -e floating-point -b 32 "$sc/fx_$f" rate -v 48000 highpass 60 \
			bass -2 120 1s equalizer 2500 1q 1.5 treble 1 9000 1s compand 0.01,0.12 6:-70,-70,-24,-24,0,-16
		parts="$parts -v 1 $sc/fx_$f"
	done
	sox -D -m $parts -e floating-point -b 32 "$sc/fxsum.wav"
}
fx_t=999999 plain_t=999999 sox_t=999999
for i in 1 2; do
	set -- $(timed "$mixfs" render "$sc/b8" "$sc/fxreq.json" "$sc/fx.wav"); fx_t=$(min "$fx_t" "$1")
	set -- $(timed "$mixfs" render "$sc/b8" "$sc/plainreq.json" "$sc/plain.wav"); plain_t=$(min "$plain_t" "$1")
	t0=$(date +%s.%N); sox_chain; t1=$(date +%s.%N)
	sox_t=$(min "$sox_t" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')")
done
grep -q '"highpass_hz": 60' "$sc/fxreq.json" || { echo "the chain did not reach the request"; exit 1; }
echo "| pipeline (unmastered) | wall |"
echo "|---|---|"
echo "| mixfs render, no processing (best of 2) | $plain_t s |"
echo "| mixfs render, the chain on every stem (best of 2) | $fx_t s |"
echo "| sox: the same chain per stem, then sox -m (best of 2) | $sox_t s |"
awk -v a="$sox_t" -v b="$fx_t" -v c="$plain_t" 'BEGIN { printf "\nmixfs is %.1fx faster than sox with the chain; the chain costs %.0f%% on top of the plain mix.\n", a / b, (b / c - 1) * 100 }'
rm -f "$sc"/fx_*.wav "$sc/fxsum.wav" "$sc/fx.wav" "$sc/plain.wav"
