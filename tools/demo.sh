#!/bin/sh
# demo.sh MIXFS - the README's first command: render a demo session from
# Debian-packaged music, mount mixfs, drop a request, watch it mix, and
# show where the mix is and how loud it measures. Leaves the mix in
# $DEMO_DIR (default /tmp/mixfs-demo) and unmounts.
set -eu
mixfs=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${DEMO_DIR:-/tmp/mixfs-demo}
secs=${DEMO_SECS:-60}
mnt=$dir/mnt
pid=

cleanup() {
	if [ -n "$pid" ]; then
		fusermount3 -u "$mnt" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

say() { printf '\033[1m%s\033[0m\n' "$*" 2>/dev/null || echo "$*"; }
[ -t 1 ] || say() { echo "== $*"; }

if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt"; fi
rm -rf "$dir"
mkdir -p "$dir/media" "$mnt"

say "1. Rendering a ${secs}s session: a General MIDI song split into stems (fluidsynth), plus a voice (espeak-ng)"
sh "$top/tests/lib/session.sh" "$dir/fixture" "$secs"
ls -l "$dir/fixture/stems" | tail -n +2 | awk '{ printf "   %-10s %9d bytes\n", $9, $5 }'

say "2. Mounting: mixfs -f $dir/media $mnt"
"$mixfs" -f -o workers=2 "$dir/media" "$mnt" 2>"$dir/mixfs.log" &
pid=$!
i=0
until [ -e "$mnt/README" ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] && kill -0 "$pid" 2>/dev/null || { cat "$dir/mixfs.log"; exit 1; }
	sleep 0.05
done

say "3. Making session 'demo' and copying its stems in"
mkdir "$mnt/sessions/demo"
cp "$dir"/fixture/stems/*.wav "$mnt/sessions/demo/stems/"

say "4. Dropping a request: the stems placed by their offsets, each cleaned up (high-pass, EQ, a short fade-in), mastered to -14 LUFS / -1 dBTP"
awk 'BEGIN { printf "{\"stems\": [" }
	{ fx = ", \"highpass_hz\": 40, \"fade_in_ms\": 10"
	  if ($1 ~ /voice/) fx = ", \"highpass_hz\": 90, \"eq\": [{\"type\": \"peak\", \"freq_hz\": 3000, \"gain_db\": 2, \"q\": 1}]"
	  if ($1 ~ /bass/) fx = ", \"eq\": [{\"type\": \"lowshelf\", \"freq_hz\": 100, \"gain_db\": -2}]"
	  printf "%s\n  {\"file\": \"%s\", \"offset_ms\": %.3f, \"gain_db\": %s, \"pan\": %s%s}",
		(NR > 1 ? "," : ""), $1, $2 / 48, $3, $4, fx }
	END { printf "],\n \"master\": {\"target_lufs\": -14, \"true_peak_dbtp\": -1}}\n" }' \
	"$dir/fixture/truth" >"$dir/request.json"
sed 's/^/   /' "$dir/request.json"
cp "$dir/request.json" "$mnt/sessions/demo/requests/take1.json"
jid=$(cat "$mnt/sessions/demo/requests/take1.json")
job=$mnt/sessions/demo/jobs/$jid
echo "   job $jid"

say "5. Watching $job/state and progress"
last=
while :; do
	st=$(cat "$job/state")
	pr=$(cat "$job/progress")
	if [ -t 1 ]; then
		bar=$(printf '%*s' $((pr * 40 / 100)) '' | tr ' ' '#')
		printf '\r   [%-40s] %3d%%  %-18s' "$bar" "$pr" "$st"
	elif [ "$st $pr" != "$last" ]; then
		echo "   $st $pr%"
	fi
	last="$st $pr"
	case "$st" in complete|error|"") break ;; esac # "": the daemon is gone
	sleep 0.1
done
[ -t 1 ] && echo
if [ "$st" != complete ]; then
	echo "the job failed: $(cat "$job/error" 2>/dev/null || cat "$dir/mixfs.log")"
	exit 1
fi
sed 's/^/   /' "$job/log"

out=$dir/media/.mix_outputs/demo/final_mix.wav
say "6. The mix"
echo "   through the tree: $mnt/sessions/demo/final_mix.wav"
echo "   on disk:          $out"
sed -n '/"result"/,/}/p' "$job/job.json" | tr -d '\t",' |
	awk -F: '/duration_s|integrated_lufs|true_peak_dbtp|gain_db/ { printf "   mixfs result     %-16s %.2f\n", $1, $2 }'
if command -v ffmpeg >/dev/null; then
	ffmpeg -nostats -hide_banner -i "$out" -af ebur128=peak=true -f null - 2>&1 |
		awk '/I:/ { i = $2 } /Peak:/ { p = $2 } END { printf "   ffmpeg ebur128   integrated %s LUFS, true peak %s dBTP\n", i, p }'
fi

say "7. Unmounting"
fusermount3 -u "$mnt"
wait "$pid"
pid=
echo "   done; the mix stays at $out"
