#!/bin/sh
# run.sh - build the libFuzzer targets with clang and run each for
# FUZZ_SECONDS (default 30). Needs clang (Debian: clang).
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
out=build/fuzz
mkdir -p "$out"
flags="-std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude $(pkg-config --cflags libcjson uuid)"
libs="$(pkg-config --libs libcjson uuid)"
for t in request record; do
	# shellcheck disable=SC2086
	clang $flags -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" src/job/*.c src/util/util.c src/util/log.c $libs
	mkdir -p "$out/corpus_$t"
	# seeds: a full request, and records as both writers leave them
	printf '{"stems": [{"file": "a.wav", "gain_db": -2, "pan": 0.5, "offset_ms": 10, "mute": false, "solo": true}], "align": "auto", "reference": "r.wav", "align_window_ms": 100, "sample_rate": 44100, "master": {"target_lufs": -16, "true_peak_dbtp": -2}, "output": {"format": "flac", "bit_depth": 16}}' >"$out/corpus_request/seed1"
	printf '{"job_id": "7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f", "session_id": "s1", "state": "complete", "updated_at": "2026-11-28T03:00:00.5+01:00", "progress": 100, "attempts": 2, "owner_uid": 1000, "request_text": "{}", "error": null, "output": "/x.wav", "result": {"duration_s": 1.5, "sample_rate": 48000, "channels": 2, "integrated_lufs": -14, "true_peak_dbtp": -1, "gain_db": 3, "offsets_ms": [0, 1.5]}}' >"$out/corpus_record/seed1"
	echo "fuzz_$t: ${secs}s"
	"$out/fuzz_$t" -timeout=5 -artifact_prefix="$out/" -max_total_time="$secs" -max_len=4096 "$out/corpus_$t" 2>&1 | tail -3
done
