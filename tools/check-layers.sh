#!/bin/sh
# check-layers.sh - the include rules of the README's architecture section,
# checked on what the compiler itself reads: `cc -M` lists every header a
# source pulls in, through other headers too, libraries included. Each
# module may reach only the mixfs headers, the private headers (its own)
# and the libraries listed for it below; anything else is printed and fails.
# Run from another tree with ROOT=...
set -eu
root=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
cc=${CC:-cc}
pkgs="fuse3 libcjson uuid sndfile soxr fftw3f libpq"
# shellcheck disable=SC2086
# FUSE_USE_VERSION as src/fs sets it, so a FUSE header planted elsewhere is
# read (and reported) rather than refused by the preprocessor
flags="-std=c17 -D_GNU_SOURCE -DFUSE_USE_VERSION=314 -Iinclude $(pkg-config --cflags $pkgs 2>/dev/null)"

# rules MODULE: "mixfs headers | libraries" it may reach
rules() {
	case $1 in
	util) echo "util log hmap | " ;;
	job) echo "util log job plan request | cjson uuid" ;;
	audio) echo "util log plan mix | sndfile soxr fftw" ;;
	pg) echo "util log job pgstore | pq" ;;
	core) echo "util log hmap job plan request store cleanup core mix pgstore | " ;;
	fs) echo "util log hmap job plan request store cleanup core fs | fuse" ;;
	main) echo "util log fs mix plan request core job store cleanup | " ;;
	ctl) echo "util log job request plan | " ;;
	esac
}

# name HEADER_PATH: "mixfs X", "private M", "lib L", or "libc"
name() {
	case $1 in
	include/mixfs/*.h) h=${1#include/mixfs/}; echo "mixfs ${h%.h}" ;;
	src/*/*.h) m=${1#src/}; echo "private ${m%%/*}" ;;
	*/fuse3/*|*/fuse.h|*/fuse_*.h) echo "lib fuse" ;;
	*/sndfile.h|*/sndfile.hh) echo "lib sndfile" ;;
	*/soxr.h) echo "lib soxr" ;;
	*/ebur128.h) echo "lib ebur128" ;;
	*/fftw3.h) echo "lib fftw" ;;
	*/cJSON.h|*/cjson/*) echo "lib cjson" ;;
	*/uuid/*) echo "lib uuid" ;;
	*/libpq-fe.h|*/postgresql/*) echo "lib pq" ;;
	*) echo libc ;;
	esac
}

bad=0
for f in src/main.c src/*/*.c; do
	case $f in src/main.c) mod=main ;; *) m=${f#src/}; mod=${m%%/*} ;; esac
	r=$(rules "$mod")
	if [ -z "$r" ]; then
		echo "check-layers: $f: module $mod has no rules" >&2
		bad=$((bad + 1))
		continue
	fi
	allowed_mixfs=" ${r%%|*} "
	allowed_libs=" ${r#*|} "
	# shellcheck disable=SC2086
	if ! deps=$($cc $flags -M "$f"); then
		echo "check-layers: $f: the compiler cannot read it" >&2
		bad=$((bad + 1))
		continue
	fi
	deps=$(echo "$deps" | sed 's/\\$//' | tr ' ' '\n' | grep '\.h$' |
		xargs -r realpath -m --relative-base=. | sort -u)
	for d in $deps; do
		set -- $(name "$d")
		case $1 in
		mixfs) case $allowed_mixfs in *" $2 "*) continue ;; esac ;;
		private) [ "$2" = "$mod" ] && continue ;;
		lib) case $allowed_libs in *" $2 "*) continue ;; esac ;;
		libc) continue ;;
		esac
		echo "check-layers: $f reaches $d ($1 $2), outside the $mod layer" >&2
		bad=$((bad + 1))
	done
done
[ "$bad" -eq 0 ] && echo "check-layers: ok"
[ "$bad" -eq 0 ]
