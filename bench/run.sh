#!/bin/sh
# run.sh - every benchmark, peers measured in the same run. Numbers go to
# stdout as Markdown tables (the README quotes them).
set -eu
cd "$(dirname "$0")/.."
B=${B:-build/bench}
scratch=$(mktemp -d /var/tmp/mixfs-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
ALL_CFLAGS="-std=c17 -D_GNU_SOURCE -O2 -Iinclude $(pkg-config --cflags fuse3 libcjson uuid sndfile libebur128 soxr fftw3f libpq)"
LIBS="$(pkg-config --libs fuse3 libcjson uuid sndfile libebur128 soxr fftw3f libpq) -lm -lpthread"

echo "## Enqueue with N stored jobs (cleanup pass included)"
# shellcheck disable=SC2086
cc $ALL_CFLAGS -o "$B/bench_enqueue" bench/bench_enqueue.c "$B/libmixfs.a" $LIBS
"$B/bench_enqueue" "$scratch"

for extra in bench/run_*.sh; do
	[ -e "$extra" ] || continue
	echo
	B=$B SCRATCH=$scratch sh "$extra"
done
