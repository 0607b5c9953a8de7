# audio.sh - sourced by tests and benchmarks: independent oracles for mixes.

# oracle_mix SESSION OUT FILE... : the plain mix of the named stems placed by
# SESSION/truth, built with sox alone (resampled with its very-high-quality
# rate effect, gained, panned by the SPEC section 8 law, padded, summed) as
# 32-bit float.
oracle_mix() {
	_s=$1 _o=$2
	shift 2
	_parts=""
	_i=0
	for _f in "$@"; do
		set -- $(grep "^$_f " "$_s/truth")
		_off=$2 _gain=$3 _pan=$4
		_ch=$(soxi -c "$_s/stems/$_f" 2>/dev/null)
		set -- $(awk -v g="$_gain" -v p="$_pan" -v ch="$_ch" 'BEGIN {
			pi = atan2(0, -1); t = (p + 1) * pi / 4; a = 10 ^ (g / 20)
			if (ch == 1) { l = a * cos(t); r = a * sin(t) }
			else { l = a * (sqrt(2) * cos(t) < 1 ? sqrt(2) * cos(t) : 1)
			       r = a * (sqrt(2) * sin(t) < 1 ? sqrt(2) * sin(t) : 1) }
			printf "%.12f %.12f\n", l, r }')
		if [ "$_ch" = 1 ]; then _remix="1v$1 1v$2"; else _remix="1v$1 2v$2"; fi
		sox -D -V1 "$_s/stems/$_f" -e floating-point -b 32 "$_o.part$_i.wav" \
			rate -v 48000 remix $_remix pad "${_off}s"
		_parts="$_parts -v 1 $_o.part$_i.wav"
		_i=$((_i + 1))
	done
	if [ "$_i" = 1 ]; then
		sox -D -V1 $_parts -e floating-point -b 32 "$_o"
	else
		sox -D -V1 -m $_parts -e floating-point -b 32 "$_o"
	fi
	rm -f "$_o".part*.wav
}

# residual_db A B : peak level (dBFS) of A - B, by sox
residual_db() {
	sox -D -V1 -m -v 1 "$1" -v -1 "$2" -n stats 2>&1 | awk '/^Pk lev dB/ { print $4 }'
}

# loudness FILE : "INTEGRATED_LUFS TRUE_PEAK_DBTP" by ffmpeg's ebur128 filter
loudness() {
	ffmpeg -nostats -hide_banner -i "$1" \
		-af "ebur128=peak=true:metadata=1,ametadata=mode=print:file=-" -f null - 2>/dev/null |
	awk -F= '/r128.I=/ { i = $2 }
		/true_peaks_ch/ { if ($2 + 0 > tp) tp = $2 + 0 }
		END { printf "%.3f %.3f\n", i, (tp > 0 ? 20 * log(tp) / log(10) : -999) }'
}

# within X Y TOL : true when |X - Y| <= TOL
within() {
	awk -v x="$1" -v y="$2" -v t="$3" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= t) }'
}

# le X Y : true when X <= Y (X may be sox's "-inf", an exact null)
le() {
	[ "$1" = "-inf" ] && return 0
	awk -v x="$1" -v y="$2" 'BEGIN { exit !(x <= y) }'
}

# request_from_truth SESSION FILE... : a request JSON for the named stems
# at their true placement (as offset_ms), printed; extra top-level JSON
# members may follow in $REQUEST_EXTRA (e.g. ', "master": null').
request_from_truth() {
	_s=$1
	shift
	printf '{"stems": ['
	_sep=""
	for _f in "$@"; do
		grep "^$_f " "$_s/truth" | awk -v sep="$_sep" '{
			printf "%s{\"file\": \"%s\", \"offset_ms\": %.6f, \"gain_db\": %s, \"pan\": %s}",
				sep, $1, $2 / 48, $3, $4 }'
		_sep=", "
	done
	printf ']%s}\n' "${REQUEST_EXTRA:-}"
}
