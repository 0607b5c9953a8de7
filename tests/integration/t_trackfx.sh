#!/bin/sh
# t_trackfx.sh - a stem's own processing (SPEC 7a) through `mixfs render`,
# against sox as the oracle: every filter type at several settings nulls
# against the same sox effect below -100 dBFS (a low high-pass at 48 kHz,
# a high shelf near Nyquist after 44.1 -> 48 kHz resampling among them),
# linear fades against sox's `fade t`, polarity, a whole chain, the
# compressor's static curve and time constants, and the errors that name
# their key.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/audio.sh"
: "${MIXFS:?}"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
s=$t/s
mkdir -p "$s/stems"
# broadband material: pink noise under a slow sweep, 48 kHz 24-bit stereo,
# and the same kind at 44.1 kHz 16-bit
sox -n -r 48000 -b 24 -c 2 "$s/stems/a48.wav" synth 4 pinknoise synth 4 sine mix 20-20000 gain -12
sox -n -r 44100 -b 16 -c 2 "$s/stems/b44.wav" synth 4 pinknoise synth 4 sine mix 20-20000 gain -12

# fx NAME STEM "JSON MEMBERS" "SOX EFFECTS": render the stem alone (unity
# gain, centre, no mastering, 32-bit float) with the members, sox the
# stem with the effects, and print the residual in dBFS
fx() {
	echo "{\"stems\": [{\"file\": \"$2\"$3}], \"master\": null, \"output\": {\"bit_depth\": 32}}" >"$t/$1.json"
	"$MIXFS" render "$s" "$t/$1.json" "$t/$1.wav" >/dev/null 2>"$t/$1.err" || { echo "render-failed"; return; }
	# shellcheck disable=SC2086
	sox -D -V1 "$s/stems/$2" -e floating-point -b 32 "$t/$1.sox.wav" $4
	residual_db "$t/$1.wav" "$t/$1.sox.wav"
}
null_check() { # NAME STEM MEMBERS EFFECTS
	r=$(fx "$@")
	check "$1 nulls against sox '$4': residual $r dBFS below -100" le "$r" -100
}

null_check highpass-20 a48.wav ', "highpass_hz": 20' "highpass 20"
null_check highpass-200 a48.wav ', "highpass_hz": 200' "highpass 200"
null_check peak-100 a48.wav ', "eq": [{"type": "peak", "freq_hz": 100, "gain_db": 6, "q": 0.7}]' "equalizer 100 0.7q 6"
null_check peak-3k a48.wav ', "eq": [{"type": "peak", "freq_hz": 3000, "gain_db": -4, "q": 2}]' "equalizer 3000 2q -4"
null_check peak-12k a48.wav ', "eq": [{"type": "peak", "freq_hz": 12000, "gain_db": 2.5, "q": 1.2}]' "equalizer 12000 1.2q 2.5"
null_check lowshelf-120 a48.wav ', "eq": [{"type": "lowshelf", "freq_hz": 120, "gain_db": -3}]' "bass -3 120 1s"
null_check lowshelf-300 a48.wav ', "eq": [{"type": "lowshelf", "freq_hz": 300, "gain_db": 4}]' "bass 4 300 1s"
null_check highshelf-8k a48.wav ', "eq": [{"type": "highshelf", "freq_hz": 8000, "gain_db": 1.5}]' "treble 1.5 8000 1s"
null_check highshelf-20k a48.wav ', "eq": [{"type": "highshelf", "freq_hz": 20000, "gain_db": -6}]' "treble -6 20000 1s"
null_check lowpass-16k a48.wav ', "eq": [{"type": "lowpass", "freq_hz": 16000}]' "lowpass 16000"
null_check lowpass-5k-q2 a48.wav ', "eq": [{"type": "lowpass", "freq_hz": 5000, "q": 2}]' "lowpass 5000 2q"
null_check highpass-44k b44.wav ', "highpass_hz": 30' "highpass 30"
null_check fades a48.wav ', "fade_in_ms": 50, "fade_out_ms": 2000' "fade t 0.05 0 2"
null_check chain a48.wav ', "invert": true, "highpass_hz": 80, "eq": [{"type": "peak", "freq_hz": 3000, "gain_db": 2.5, "q": 1.2}, {"type": "lowshelf", "freq_hz": 120, "gain_db": -3}, {"type": "highshelf", "freq_hz": 8000, "gain_db": 1.5}, {"type": "lowpass", "freq_hz": 16000}], "fade_in_ms": 50, "fade_out_ms": 2000' \
	"vol -1 highpass 80 equalizer 3000 1.2q 2.5 bass -3 120 1s treble 1.5 8000 1s lowpass 16000 fade t 0.05 0 2"

# a high shelf near Nyquist on a 44.1 kHz stem mixed at 48 kHz: the shelf
# runs at 48 kHz, after the resampler; sox shelves mixfs's own unprocessed
# render of the stem at 48 kHz
echo '{"stems": [{"file": "b44.wav"}], "sample_rate": 48000, "master": null, "output": {"bit_depth": 32}}' >"$t/rs.json"
"$MIXFS" render "$s" "$t/rs.json" "$t/rs.wav" >/dev/null 2>&1
echo '{"stems": [{"file": "b44.wav", "eq": [{"type": "highshelf", "freq_hz": 21000, "gain_db": 6}]}], "sample_rate": 48000, "master": null, "output": {"bit_depth": 32}}' >"$t/rsf.json"
"$MIXFS" render "$s" "$t/rsf.json" "$t/rsf.wav" >/dev/null 2>&1
sox -D -V1 "$t/rs.wav" -e floating-point -b 32 "$t/rs.sox.wav" treble 6 21000 1s
r=$(residual_db "$t/rsf.wav" "$t/rs.sox.wav")
check "a 21 kHz shelf after 44.1 -> 48 kHz nulls against sox: residual $r dBFS below -100" le "$r" -100
d=$(residual_db "$t/rsf.wav" "$t/rs.wav")
check "... and it does shelve: $d dBFS from the unshelved mix" within "$d" -30 20

# polarity: a stem and its inverse sum to nothing
cp "$s/stems/a48.wav" "$s/stems/a48copy.wav"
echo '{"stems": [{"file": "a48.wav"}, {"file": "a48copy.wav", "invert": true}], "master": null, "output": {"bit_depth": 32}}' >"$t/pol.json"
"$MIXFS" render "$s" "$t/pol.json" "$t/pol.wav" >/dev/null 2>&1
p=$(sox "$t/pol.wav" -n stats 2>&1 | awk '/^Pk lev dB/ { print $4 }')
[ -s "$t/pol.wav" ] || p=rendered-nothing
check "a stem plus its inverted self is silence (peak '$p' dBFS)" le "${p:-0}" -140
r=$(fx plain a48.wav '' 'vol 1')
check "a stem with no processing is untouched: residual $r dBFS" le "$r" -140

# the compressor's static curve on steady sines (threshold -18, ratio 3,
# makeup 2; hard knee and a 6 dB soft knee): the output's peak level within
# 0.5 dB of the curve, at levels below, in and above the knee
curve() { # LEVEL KNEE: the curve's output level
	awk -v l="$1" -v k="$2" 'BEGIN { T = -18; R = 3; o = l - T
		if (2 * o <= -k) x = 0
		else if (2 * (o < 0 ? -o : o) < k) { d = o + k / 2; x = (1 - 1 / R) * d * d / (2 * k) }
		else x = (1 - 1 / R) * o
		print l - x + 2 }'
}
worst=0
for lvl in -36 -24 -20 -18 -16 -12 -6 -1; do
	sox -n -r 48000 -b 32 -e floating-point -c 2 "$s/stems/sine.wav" synth 1.5 sine 1000 gain "$lvl"
	for knee in 0 6; do
		echo "{\"stems\": [{\"file\": \"sine.wav\", \"compressor\": {\"threshold_db\": -18, \"ratio\": 3, \"attack_ms\": 10, \"release_ms\": 120, \"knee_db\": $knee, \"makeup_db\": 2}}], \"master\": null, \"output\": {\"bit_depth\": 32}}" >"$t/c.json"
		"$MIXFS" render "$s" "$t/c.json" "$t/c.wav" >/dev/null 2>&1
		got=$(sox "$t/c.wav" -n trim 1 stats 2>&1 | awk '/^Pk lev dB/ { print $4 }')
		worst=$(awk -v g="${got:-99}" -v e="$(curve "$lvl" "$knee")" -v w="$worst" \
			'BEGIN { d = g - e; if (d < 0) d = -d; print (d > w ? d : w) }')
	done
done
check "the static curve on 16 steady sines: worst error $worst dB (at most 0.5)" le "$worst" 0.5

# attack and release on a tone burst: -40 dBFS, then -6 for a second, then
# -40 again (threshold -20, ratio 4: 10.5 dB of reduction); the reduction
# reaches 63 % of its change one time constant after each step
sox -n -r 48000 -b 24 -c 2 "$t/b1.wav" synth 0.5 sine 1000 gain -40
sox -n -r 48000 -b 24 -c 2 "$t/b2.wav" synth 1 sine 1000 gain -6
sox "$t/b1.wav" "$t/b2.wav" "$t/b1.wav" "$t/b1.wav" "$s/stems/burst.wav"
echo '{"stems": [{"file": "burst.wav", "compressor": {"threshold_db": -20, "ratio": 4, "attack_ms": 25, "release_ms": 200}}], "master": null, "output": {"bit_depth": 24}}' >"$t/burst.json"
"$MIXFS" render "$s" "$t/burst.json" "$t/burst.wav" >/dev/null 2>&1
# the left channels as raw 32-bit integers, for a reader with no WAV parser
sox "$s/stems/burst.wav" -t raw -e signed-integer -b 32 "$t/in.raw" remix 1
sox "$t/burst.wav" -t raw -e signed-integer -b 32 "$t/out.raw" remix 1
times=$(python3 - "$t/in.raw" "$t/out.raw" <<'PY'
import array, math, sys
def peaks(path):  # the peak of each millisecond at 48 kHz
    a = array.array("i")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return [max(abs(v) for v in a[k:k + 48]) for k in range(0, len(a) - 47, 48)]
pin, pout = peaks(sys.argv[1]), peaks(sys.argv[2])
red = [20 * math.log10(max(i, 1) / max(o, 1)) for i, o in zip(pin, pout)]
full = red[1400]  # well into the loud part
def cross(start, frm, to):  # ms after start until 63.2 % of the change
    goal = frm + 0.632 * (to - frm)
    for k in range(start, len(red)):
        if (to > frm and red[k] >= goal) or (to < frm and red[k] <= goal):
            return k - start
    return -1
print("%.1f %d %d" % (full, cross(500, 0, full), cross(1500, full, 0)))
PY
)
set -- $times
check "a tone burst is reduced by ${1:-?} dB at -6 dBFS (10.5 expected)" within "${1:-0}" 10.5 0.5
check "attack: 63 % of the reduction after ${2:-?} ms (25 ms within 20 %)" within "${2:-0}" 25 5
check "release: 63 % of the recovery after ${3:-?} ms (200 ms within 20 %)" within "${3:-0}" 200 40

# mastering modes: normalize reaches the target with one linear gain when
# the ceiling allows, and stops at the ceiling (saying by how much it
# missed) when it does not; limit reports how hard the limiter worked; the
# loudness range of the output is in the result (ffmpeg's meter as oracle)
sox -R -n -r 48000 -b 24 -c 2 "$s/stems/dyn.wav" synth 60 pinknoise tremolo 0.05 90 gain -30
rm -f "$s/stems/sine.wav" "$s/stems/burst.wav"
master() { # NAME "MASTER JSON": render dyn.wav alone, print its result lines
	echo "{\"stems\": [{\"file\": \"dyn.wav\"}], \"master\": $2}" >"$t/$1.json"
	"$MIXFS" render "$s" "$t/$1.json" "$t/$1.wav" >"$t/$1.out" 2>"$t/$1.log"
}
field() { sed -n "s/^$2: //p" "$t/$1.out"; }
master norm '{"target_lufs": -30, "true_peak_dbtp": -1, "mode": "normalize"}'
set -- $(loudness "$t/norm.wav")
check "normalize reaches -30 LUFS by ffmpeg's meter ($1)" within "$1" -30 0.1
check "... under the ceiling ($2 dBTP)" le "$2" -1
check "... with no limiting (max_gain_reduction_db $(field norm max_gain_reduction_db))" \
	test "$(field norm max_gain_reduction_db)" = 0.00
master short '{"target_lufs": -8, "true_peak_dbtp": -1, "mode": "normalize"}'
set -- $(loudness "$t/short.wav")
check "normalize toward -8 LUFS stops at the ceiling: $2 dBTP, under -1 by ffmpeg's meter" \
	sh -c "awk -v p='$2' 'BEGIN { exit !(p <= -1 && p >= -1.3) }'"
check "... at $1 LUFS, as its result says ($(field short integrated_lufs))" within "$1" "$(field short integrated_lufs)" 0.1
check "... and its log says how far short it is" grep -q "normalize stops at the ceiling: .* LU short of the target" "$t/short.log"
check "... as does its result: target_missed_lu $(field short target_missed_lu) = -8 - $(field short integrated_lufs)" \
	within "$(field short target_missed_lu)" "$(awk -v l="$(field short integrated_lufs)" 'BEGIN { print -8 - l }')" 0.02
check "a target reached misses nothing" test "$(field norm target_missed_lu)" = 0.00
# white noise puts the most between samples near Nyquist, where a short
# interpolation filter under-reads (it read 0.6 dB low and went over)
sox -R -n -r 48000 -b 24 -c 2 "$s/stems/white.wav" synth 20 whitenoise gain -30
echo '{"stems": [{"file": "white.wav"}], "master": {"target_lufs": -5, "true_peak_dbtp": -6, "mode": "normalize"}}' >"$t/white.json"
"$MIXFS" render "$s" "$t/white.json" "$t/white.wav" >"$t/white.out" 2>&1
set -- $(loudness "$t/white.wav")
check "white noise normalized to the ceiling: $2 dBTP by ffmpeg's meter, under -6" \
	awk -v p="$2" 'BEGIN { exit !(p <= -6 && p >= -6.3) }'
check "... and the true peak in the result ($(field white true_peak_dbtp)) is at or over ffmpeg's" \
	awk -v o="$(field white true_peak_dbtp)" -v f="$2" 'BEGIN { exit !(o >= f - 0.02) }'
rm -f "$s/stems/white.wav"
master lim '{"target_lufs": -12, "true_peak_dbtp": -1}'
# deep bass pumped by the limiter: the loudness predicted from the plain
# mix's K-weighted power misses (the limiter moves within a 30 Hz cycle),
# so the search goes on with the limited audio itself
sox -R -n -r 48000 -b 24 -c 2 "$s/stems/sub.wav" synth 30 sine 30 tremolo 3 100 vol 0.9
echo '{"stems": [{"file": "sub.wav"}], "master": {"target_lufs": -10, "true_peak_dbtp": -1}}' >"$t/sub.json"
"$MIXFS" render "$s" "$t/sub.json" "$t/sub.wav" >"$t/sub.out" 2>"$t/sub.log"
set -- $(loudness "$t/sub.wav")
check "30 Hz pumped by the limiter reaches -10 LUFS by ffmpeg's meter ($1)" within "$1" -10 0.1
check "... under the ceiling ($2 dBTP)" le "$2" -1
check "... the log says the prediction missed and the search used the audio" \
	grep -q "searching on the limited audio" "$t/sub.log"
# a target the limiter cannot reach: it stops where more gain stops paying,
# and says so, rather than turning the mix into a square wave
echo '{"stems": [{"file": "sub.wav"}], "master": {"target_lufs": -5, "true_peak_dbtp": -1}}' >"$t/far.json"
"$MIXFS" render "$s" "$t/far.json" "$t/far.wav" >"$t/far.out" 2>"$t/far.log"
rc=$?
set -- $(loudness "$t/far.wav")
check "an unreachable -5 LUFS still renders (exit $rc), under the ceiling ($2 dBTP)" \
	sh -c "[ $rc = 0 ] && awk -v p='$2' 'BEGIN { exit !(p <= -1) }'"
check "... its log says the limiter cannot reach the target" grep -q "the limiter cannot reach the target" "$t/far.log"
check "... its result says by how much: target_missed_lu $(field far target_missed_lu) = -5 - ($1)" \
	within "$(field far target_missed_lu)" "$(awk -v l="$1" 'BEGIN { print -5 - l }')" 0.1
check "... with a gain that stayed sane ($(field far gain_db) dB)" \
	awk -v g="$(field far gain_db)" 'BEGIN { exit !(g < 40) }'
rm -f "$s/stems/sub.wav"
check "limit mode reports the limiter's deepest reduction ($(field lim max_gain_reduction_db) dB)" \
	awk -v g="$(field lim max_gain_reduction_db)" 'BEGIN { exit !(g > 1) }'
lra=$(ffmpeg -nostats -hide_banner -i "$t/norm.wav" -af ebur128 -f null - 2>&1 | awk '/LRA:/ { v = $2 } END { print v }')
check "the loudness range in the result ($(field norm loudness_range_lu) LU) is ffmpeg's ($lra LU) within 2 LU" \
	within "$(field norm loudness_range_lu)" "$lra" 2
master loud '{"mode": "loud"}'
check "an unknown mastering mode is refused, naming it: $(tail -n 1 "$t/loud.log")" grep -q 'key "master.mode"' "$t/loud.log"

# errors that name the key
bad() { # NAME MEMBERS EXPECTED-IN-MESSAGE
	echo "{\"stems\": [{\"file\": \"a48.wav\"$2}], \"master\": null}" >"$t/bad.json"
	"$MIXFS" render "$s" "$t/bad.json" "$t/bad.wav" >/dev/null 2>"$t/bad.err"
	rc=$?
	check "$1 is refused, naming it: $(tail -n 1 "$t/bad.err")" \
		sh -c "[ $rc -ne 0 ] && grep -q '$3' '$t/bad.err'"
}
bad "a band above 99 % of Nyquist" ', "eq": [{"type": "peak", "freq_hz": 23900, "gain_db": 1}]' 'stems\[0\].eq\[0\].freq_hz'
bad "a high-pass out of range" ', "highpass_hz": 5' 'stems\[0\].highpass_hz'
bad "an unknown band type" ', "eq": [{"type": "notch", "freq_hz": 1000}]' 'stems\[0\].eq\[0\].type'
bad "nine bands" ', "eq": [{"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}, {"type": "lowpass", "freq_hz": 9000}]' 'stems\[0\].eq'
bad "a gain on a lowpass" ', "eq": [{"type": "lowpass", "freq_hz": 9000, "gain_db": 3}]' 'stems\[0\].eq\[0\].gain_db'
bad "a q on a shelf" ', "eq": [{"type": "lowshelf", "freq_hz": 100, "gain_db": 3, "q": 2}]' 'stems\[0\].eq\[0\].q'
bad "a peak without its gain" ', "eq": [{"type": "peak", "freq_hz": 1000}]' 'stems\[0\].eq\[0\].gain_db'
bad "invert that is not a boolean" ', "invert": 1' 'stems\[0\].invert'
bad "a compressor ratio out of range" ', "compressor": {"ratio": 50}' 'stems\[0\].compressor.ratio'
bad "an unknown compressor key" ', "compressor": {"lookahead_ms": 5}' 'stems\[0\].compressor.lookahead_ms'
bad "an unknown key in a band" ', "eq": [{"type": "peak", "freq_hz": 1000, "gain_db": 1, "width": 2}]' 'stems\[0\].eq\[0\].width'
done_testing
