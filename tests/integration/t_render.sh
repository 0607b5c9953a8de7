#!/bin/sh
# t_render.sh - the audio engine through `mixfs render`, checked against
# independent oracles: sox for the plain mix, ffmpeg's ebur128 for loudness.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/audio.sh"
: "${MIXFS:?}"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
sh "$here/../lib/session.sh" "$t/s" 30 || { echo "Bail out! cannot render the session"; exit 1; }
s=$t/s
render() { "$MIXFS" render "$s" "$1" "$2" >"$2.out" 2>"$2.err"; }
samples() { soxi -s "$1" 2>/dev/null; }

# 1. Plain mix, nothing resampled: a null test against sox.
native="drums.wav bass.wav pads.wav lead.wav"
REQUEST_EXTRA=', "master": null, "output": {"bit_depth": 32}' request_from_truth "$s" $native >"$t/native.json"
render "$t/native.json" "$t/native.wav"
oracle_mix "$s" "$t/native_oracle.wav" $native
check "unmastered mix renders" test -s "$t/native.wav"
check "length is exact ($(samples "$t/native.wav") vs $(samples "$t/native_oracle.wav"))" \
	test "$(samples "$t/native.wav")" = "$(samples "$t/native_oracle.wav")"
r=$(residual_db "$t/native.wav" "$t/native_oracle.wav")
check "null test without resampling: residual $r dBFS below -120" le "$r" -120

# 1b. Offsets that are not whole milliseconds land on the nearest sample
# (llround), not the one below: 384025 and 96007 samples at 48 kHz.
mkdir -p "$t/sub"
cp -al "$s/stems" "$t/sub/stems"
sed -e 's/^bass.wav 384000 /bass.wav 384025 /' -e 's/^keys.wav 96000 /keys.wav 96007 /' \
	"$s/truth" >"$t/sub/truth"
REQUEST_EXTRA=', "master": null, "output": {"bit_depth": 32}' request_from_truth "$t/sub" \
	drums.wav bass.wav >"$t/sub.json"
grep -q '"offset_ms": 8000.520833' "$t/sub.json" || echo "# the request lost its fraction"
"$MIXFS" render "$t/sub" "$t/sub.json" "$t/sub.wav" >/dev/null 2>"$t/sub.err"
oracle_mix "$t/sub" "$t/sub_oracle.wav" drums.wav bass.wav
r=$(residual_db "$t/sub.wav" "$t/sub_oracle.wav")
check "sub-millisecond offsets round to the nearest sample: residual $r dBFS below -120" le "$r" -120

# 2. Every stem, two of them resampled (44.1 kHz, 22.05 kHz mono).
all="drums.wav bass.wav keys.wav pads.wav lead.wav voice.wav"
REQUEST_EXTRA=', "master": null, "output": {"bit_depth": 32}' request_from_truth "$s" $all >"$t/all.json"
render "$t/all.json" "$t/all.wav"
oracle_mix "$s" "$t/all_oracle.wav" $all
check "resampled mix has the exact length" \
	test "$(samples "$t/all.wav")" = "$(samples "$t/all_oracle.wav")"
r=$(residual_db "$t/all.wav" "$t/all_oracle.wav")
check "null test with resampling: residual $r dBFS below -90" le "$r" -90

# 3. Mastered to the default target and to another one.
for target in "-14 -1" "-18 -3"; do
	set -- $target
	REQUEST_EXTRA=", \"master\": {\"target_lufs\": $1, \"true_peak_dbtp\": $2}" \
		request_from_truth "$s" $all >"$t/m.json"
	render "$t/m.json" "$t/m.wav"
	set -- $target $(loudness "$t/m.wav")
	check "mastered to $1 LUFS: ffmpeg reads $3 LUFS (within 0.1 LU)" within "$3" "$1" 0.1
	check "true peak $4 dBTP at or under the $2 dBTP ceiling" le "$4" "$2"
done

# 3b. At 44.1 kHz (a 100 ms gating part is not a whole number of the
# temp file's 4-frame groups) the limiter's loudness, predicted from the
# stored powers, is what the export measures.
REQUEST_EXTRA=', "sample_rate": 44100, "master": {"target_lufs": -12, "true_peak_dbtp": -1}' \
	request_from_truth "$s" $all >"$t/m44.json"
render "$t/m44.json" "$t/m44.wav"
set -- $(loudness "$t/m44.wav")
check "mastered at 44.1 kHz: ffmpeg reads $1 LUFS (within 0.1 LU of -12)" within "$1" -12 0.1
check "... true peak $2 dBTP at or under -1" le "$2" -1
check "... the rate is 44.1 kHz" test "$(soxi -r "$t/m44.wav")" = 44100
set -- $(sed -n 's/.*export measured \([-0-9.]*\) LUFS, the search \([-0-9.]*\).*/\1 \2/p' "$t/m44.wav.err")
check "... the prediction ($2) was within 0.05 LU of the export (${1:-none})" within "${1:-99}" "${2:-0}" 0.05
check "... on the first export" test "$(grep -c '^exporting' "$t/m44.wav.err")" = 1

# 4. "auto" finds offsets given a few hundred ms wrong, against a reference.
cp "$t/all_oracle.wav" "$s/stems/rough.wav"
cat >"$t/auto.json" <<JSON
{"stems": [{"file": "drums.wav"}, {"file": "bass.wav", "offset_ms": 8300},
 {"file": "keys.wav", "offset_ms": 1750, "gain_db": -3, "pan": -0.5},
 {"file": "voice.wav", "offset_ms": 4600, "pan": 0.2}],
 "align": "auto", "reference": "rough.wav", "master": null}
JSON
render "$t/auto.json" "$t/auto.wav"
offs=$(awk '/^offsets_ms:/ { print $2, $3, $4, $5 }' "$t/auto.wav.out")
check "auto alignment lands on the true offsets (got: $offs)" test "$offs" = "0.000 8000.000 2000.000 5000.000"
check "the log names each alignment" grep -q "align bass.wav: -300.000 ms" "$t/auto.wav.err"
# a stem the reference does not hold: no clear match, the given offset stays
sox -n -r 48000 -b 24 -c 1 "$s/stems/noise.wav" synth 4 whitenoise vol 0.1
echo '{"stems": [{"file": "noise.wav", "offset_ms": 1000}], "align": "auto", "reference": "rough.wav", "master": null}' >"$t/auto2.json"
render "$t/auto2.json" "$t/auto2.wav"
check "without a clear match the given offset is kept" \
	test "$(awk '/^offsets_ms:/ { print $2 }' "$t/auto2.wav.out")" = 1000.000
check "... and the log says so" grep -q "align noise.wav: no clear match.*kept the given offset" "$t/auto2.wav.err"
rm "$s/stems/noise.wav"
rm "$s/stems/rough.wav"

# 5. Pan laws, mute, solo: each against sox building the same thing.
sox -n -r 48000 -b 24 -c 1 "$s/stems/tone.wav" synth 2 sine 1000 vol 0.5
sox -n -r 48000 -b 24 -c 2 "$s/stems/wide.wav" synth 2 sine 300 sine 500 vol 0.5
pan_case() { # FILE PAN LEFT RIGHT (gains sox applies to channels 1 and 2)
	echo "{\"stems\": [{\"file\": \"$1\", \"pan\": $2}], \"master\": null, \"output\": {\"bit_depth\": 32}}" >"$t/p.json"
	render "$t/p.json" "$t/p.wav"
	if [ "$(soxi -c "$s/stems/$1")" = 1 ]; then mix="1v$3 1v$4"; else mix="1v$3 2v$4"; fi
	sox -D -V1 "$s/stems/$1" -e floating-point -b 32 "$t/p_or.wav" remix $mix
	r=$(residual_db "$t/p.wav" "$t/p_or.wav")
	check "pan law: $1 at pan $2 (residual $r dBFS)" le "$r" -120
}
pan_case tone.wav 0 0.707106781187 0.707106781187
pan_case tone.wav -1 1 0
pan_case tone.wav 0.5 0.382683432365 0.923879532511
pan_case wide.wav 0 1 1
pan_case wide.wav 0.5 0.541196100146 1
pan_case wide.wav -1 1 0
cat >"$t/solo.json" <<JSON
{"stems": [{"file": "drums.wav", "solo": true}, {"file": "lead.wav", "gain_db": -2},
 {"file": "pads.wav", "solo": true, "gain_db": -6, "pan": 0.3}, {"file": "tone.wav", "mute": true}],
 "master": null, "output": {"bit_depth": 32}}
JSON
render "$t/solo.json" "$t/solo.wav"
oracle_mix "$s" "$t/solo_or.wav" drums.wav pads.wav
r=$(residual_db "$t/solo.wav" "$t/solo_or.wav")
check "solo: only soloed stems sound, mute is silence (residual $r dBFS)" le "$r" -120

# 6. 16-bit export: TPDF dither on silence, clipping instead of wrapping.
sox -D -n -r 48000 -b 16 -c 2 "$s/stems/quiet.wav" trim 0 1
echo '{"stems": [{"file": "quiet.wav"}], "master": null, "output": {"bit_depth": 16}}' >"$t/q.json"
render "$t/q.json" "$t/q.wav"
pk=$(sox "$t/q.wav" -n stats 2>&1 | awk '/^Pk lev dB/ { print $4 }')
check "16-bit silence carries TPDF dither (peak $pk dBFS, at most 1 LSB)" sh -c \
	"[ '$pk' != '-inf' ] && awk 'BEGIN { exit !($pk >= -91 && $pk < -89) }'"
sox -n -r 48000 -b 24 -c 1 "$s/stems/hot.wav" synth 1 sine 100 vol 0.9
echo '{"stems": [{"file": "hot.wav", "gain_db": 12, "pan": -1}], "master": null, "output": {"bit_depth": 24}}' >"$t/h.json"
render "$t/h.json" "$t/h.wav"
sox -D -V1 "$s/stems/hot.wav" -b 24 "$t/h_or.wav" remix 1v3.981071705535 1v0 2>/dev/null
r=$(residual_db "$t/h.wav" "$t/h_or.wav")
check "integer export clips, never wraps (residual to a clipped sox copy $r dBFS)" le "$r" -120

# 7. FLAC output holds the same samples as the 24-bit WAV.
echo '{"stems": [{"file": "drums.wav"}], "master": null, "output": {"format": "flac", "bit_depth": 24}}' >"$t/f.json"
echo '{"stems": [{"file": "drums.wav"}], "master": null}' >"$t/w.json"
render "$t/f.json" "$t/f.flac"
render "$t/w.json" "$t/w.wav"
check "FLAC 24 export is FLAC" sh -c "soxi -t '$t/f.flac' | grep -q flac"
r=$(residual_db "$t/f.flac" "$t/w.wav")
check "FLAC 24 and WAV 24 hold the same samples (residual $r)" le "$r" -140

# 8. FLAC and AIFF stems read the same samples as the WAV they came from.
sox "$s/stems/drums.wav" "$s/stems/drums_in.flac"
sox "$s/stems/drums.wav" "$s/stems/drums_in.aiff"
for ext in flac aiff; do
	echo "{\"stems\": [{\"file\": \"drums_in.$ext\"}], \"master\": null, \"output\": {\"bit_depth\": 32}}" >"$t/in.json"
	render "$t/in.json" "$t/in_$ext.wav"
	echo '{"stems": [{"file": "drums.wav"}], "master": null, "output": {"bit_depth": 32}}' >"$t/in.json"
	render "$t/in.json" "$t/in_wav.wav"
	r=$(residual_db "$t/in_$ext.wav" "$t/in_wav.wav")
	check "a ${ext} stem mixes like its WAV (residual $r)" le "$r" -140
done

# 9. Broken stems fail with the file named.
printf 'not audio at all' >"$s/stems/text.wav"
head -c 100000 "$s/stems/drums.wav" >"$s/stems/cut.wav"
sox -n -r 48000 -c 6 "$s/stems/surround.wav" trim 0 0.1
ln -s /etc/passwd "$s/stems/escape.wav"
for bad in missing.wav text.wav cut.wav surround.wav escape.wav; do
	echo "{\"stems\": [{\"file\": \"drums.wav\"}, {\"file\": \"$bad\"}]}" >"$t/b.json"
	if render "$t/b.json" "$t/b.wav"; then not_ok "$bad: render should fail"; continue; fi
	check "$bad: the error names the file ($(tail -1 "$t/b.wav.err"))" grep -q "stems/$bad" "$t/b.wav.err"
	check "$bad: no output and no temp file left" sh -c "! ls -A '$t' | grep -q '^\\.b\\.wav\\|^b\\.wav$'"
done
done_testing
