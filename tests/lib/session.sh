#!/bin/sh
# session.sh OUT_DIR [SECS] - render a multi-stem session from Debian-packaged
# material: a General MIDI song (planetblupi-music-midi) split by MIDI channel
# and played by fluidsynth with a GM soundfont, plus a spoken line from
# espeak-ng. The stems differ the way real uploads do (48 kHz 24-bit,
# 44.1 kHz 16-bit, 32-bit float, mono 22.05 kHz) and some start late.
#
# Writes OUT_DIR/stems/*.wav and OUT_DIR/truth: one line per stem,
#   FILE OFFSET_SAMPLES_AT_48K GAIN_DB PAN
# the placement that puts the song back together.
# Knobs: MIDI (a .mid), SF2 (a soundfont), PER_CHANNEL=1 for the benchmark's
# layout instead: one stereo stem per MIDI channel (8 of them), all 48 kHz
# 24-bit but the first at 44.1 kHz, all starting at 0.
set -eu
out=${1:?usage: session.sh OUT_DIR [SECS]}
secs=${2:-30}
midi=${MIDI:-/usr/share/planetblupi/music/music001.mid}
sf2=${SF2:-/usr/share/sounds/sf2/TimGM6mb.sf2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/stems"

# The song, cut at $secs: ticks per second come from the header's division
# (this file keeps 120 bpm, two beats a second); notes still on at the cut
# are ended there.
midicsv "$midi" | awk -F', ' -v OFS=', ' -v secs="$secs" '
	$3 == "Header" { cut = secs * $6 * 2 }
	$3 ~ /_c$/ && $2 + 0 > cut {
		if ($3 == "Note_off_c" || ($3 == "Note_on_c" && $6 + 0 == 0)) { $2 = cut; print }
		next
	}
	$3 == "End_track" { $2 = cut }
	{ print }' >"$work/song.csv"

# render NAME "MIDI_CHANNELS" RATE SAMPLE_FORMAT
render() {
	awk -F', ' -v keep=" $2 " '$3 ~ /_c$/ && index(keep, " " $4 " ") == 0 { next } { print }' \
		"$work/song.csv" | csvmidi >"$work/$1.mid"
	fluidsynth -ni -q -g 0.1 -r "$3" -O "$4" -T wav -F "$work/$1.wav" "$sf2" "$work/$1.mid" \
		>/dev/null 2>&1
}
if [ "${PER_CHANNEL:-0}" = 1 ]; then
	: >"$out/truth"
	pids=
	for ch in 0 1 2 3 4 5 6 9; do
		rate=48000
		[ "$ch" = 0 ] && rate=44100
		render "ch$ch" "$ch" "$rate" s24 &
		pids="$pids $!"
		echo "ch$ch.wav 0 0 0" >>"$out/truth"
	done
	wait $pids
	for ch in 0 1 2 3 4 5 6 9; do cp "$work/ch$ch.wav" "$out/stems/ch$ch.wav"; done
	exit 0
fi
render drums "9" 48000 s24
render bass "2" 48000 s24
render keys "0 4" 44100 s16
render pads "1 5" 48000 float
render lead "3 6" 48000 s24

# Regions as a DAW bounces them: leading silence cut off; the cut is the offset.
cp "$work/drums.wav" "$out/stems/drums.wav"
sox "$work/bass.wav" "$out/stems/bass.wav" trim 384000s
sox "$work/keys.wav" "$out/stems/keys.wav" trim 88200s
cp "$work/pads.wav" "$out/stems/pads.wav"
cp "$work/lead.wav" "$out/stems/lead.wav"
espeak-ng -v en-us -s 150 -w "$work/voice.wav" "Check one two. This is the voice stem." 2>/dev/null
sox "$work/voice.wav" -r 22050 "$out/stems/voice.wav"

cat >"$out/truth" <<TRUTH
drums.wav 0 0 0
bass.wav 384000 0 0
keys.wav 96000 -3 -0.5
pads.wav 0 -6 0.3
lead.wav 0 -2 0
voice.wav 240000 0 0.2
TRUTH
