#!/bin/sh
# run.sh [replay] - the libFuzzer targets.
#   run.sh           build each with clang and run it for FUZZ_SECONDS (30),
#                    from its committed corpus (tests/fuzz/corpus_NAME) plus
#                    fresh seeds; new finds are merged back into the corpus.
#   run.sh replay    build each with $CC (no libFuzzer) under ASan/UBSan and
#                    replay its committed corpus once: part of `make test`.
# Targets: request, record (the parsers), names (names and paths beneath a
# folder), dropbox (the drop box's state machine), stem (stem loading).
set -eu
cd "$(dirname "$0")/../.."
mode=${1:-fuzz}
out=build/fuzz
mkdir -p "$out"
cc=${CC:-cc}
base="-std=c17 -D_GNU_SOURCE -g -O1 -Iinclude"
util="src/util/util.c src/util/log.c"

sources() {
	case $1 in
	request|record|names) echo "src/job/job.c src/job/request.c src/job/plan.c $util" ;;
	dropbox) echo "src/fs/dropbox.c src/job/request.c src/job/plan.c $util" ;;
	stem) echo "src/audio/stem.c $util" ;;
	esac
}
pkgs() {
	case $1 in
	dropbox) echo "libcjson uuid fuse3" ;;
	stem) echo "sndfile soxr" ;;
	*) echo "libcjson uuid" ;;
	esac
}

# Seeds: a full request, records as both writers leave them, names that
# try to escape, real audio headers.
seed() {
	d=$out/seeds_$1
	rm -rf "$d"
	mkdir -p "$d"
	case $1 in
	request) printf '{"stems": [{"file": "a.wav", "gain_db": -2, "pan": 0.5, "offset_ms": 10, "mute": false, "solo": true}], "align": "auto", "reference": "r.wav", "align_window_ms": 100, "sample_rate": 44100, "master": {"target_lufs": -16, "true_peak_dbtp": -2}, "output": {"format": "flac", "bit_depth": 16}}' >"$d/s1" ;;
	record) printf '{"job_id": "7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f", "session_id": "s1", "state": "complete", "updated_at": "2026-11-28T03:00:00.5+01:00", "progress": 100, "attempts": 2, "owner_uid": 1000, "request_text": "{}", "error": null, "output": "/x.wav", "result": {"duration_s": 1.5, "sample_rate": 48000, "channels": 2, "integrated_lufs": -14, "true_peak_dbtp": -1, "gain_db": 3, "offsets_ms": [0, 1.5]}}' >"$d/s1" ;;
	names)
		printf 'd/f.wav' >"$d/s1"; printf 'up/etc/passwd' >"$d/s2"; printf '../d/f.wav' >"$d/s3"
		printf 'd/in' >"$d/s4"; printf '/etc/passwd' >"$d/s5"; printf 'a\nb\377.json' >"$d/s6" ;;
	dropbox) printf '\000\002\000\000\005\002\007\000\004\002\000\000\007\000\000\000\003\000\000\000' >"$d/s1" ;;
	stem)
		sox -n -r 8000 -b 16 -c 1 "$d/s1.wav" synth 0.05 sine 440
		sox -n -r 44100 -b 24 -c 2 "$d/s2.flac" synth 0.05 sine 440
		sox -n -r 22050 -b 16 -c 2 "$d/s3.aiff" synth 0.05 sine 440
		sox -n -r 48000 -e floating-point -b 32 -c 1 "$d/s4.wav" synth 0.05 sine 440 ;;
	esac
}

for t in request record names dropbox stem; do
	corpus=tests/fuzz/corpus_$t
	mkdir -p "$corpus"
	# shellcheck disable=SC2046
	libs="$(pkg-config --libs $(pkgs $t)) -lm -lpthread"
	# shellcheck disable=SC2046
	flags="$base $(pkg-config --cflags $(pkgs $t))"
	if [ "$mode" = replay ]; then
		# shellcheck disable=SC2046,SC2086
		$cc $flags -fsanitize=address,undefined -fno-sanitize-recover=all -o "$out/replay_$t" \
			tests/fuzz/replay.c "tests/fuzz/fuzz_$t.c" $(sources $t) $libs
		printf 'fuzz_%s: ' "$t"
		"$out/replay_$t" "$corpus"
		continue
	fi
	seed "$t"
	# shellcheck disable=SC2046,SC2086
	clang $flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" \
		$(sources $t) $libs
	mkdir -p "$out/work_$t"
	echo "fuzz_$t: ${FUZZ_SECONDS:-30}s"
	"$out/fuzz_$t" -timeout=5 -rss_limit_mb=1024 -artifact_prefix="$out/" \
		-max_total_time="${FUZZ_SECONDS:-30}" -max_len=8192 -print_final_stats=1 \
		"$out/work_$t" "$corpus" "$out/seeds_$t" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY|Done)" || true
	"$out/fuzz_$t" -merge=1 "$corpus" "$out/work_$t" "$out/seeds_$t" >/dev/null 2>&1
	echo "corpus_$t: $(ls "$corpus" | wc -l) inputs"
done
