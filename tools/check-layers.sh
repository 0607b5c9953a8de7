#!/bin/sh
# check-layers.sh - the include rules of the README's architecture section.
# Each module may include only the headers listed for it; a violation is
# printed and fails the build.
set -eu
cd "$(dirname "$0")/.."
fail=0

# allowed SRC_GLOB HEADERS...: files matching the glob include only these.
allowed() {
	glob=$1
	shift
	for f in $glob; do
		[ -f "$f" ] || continue
		grep -o '#include "mixfs/[a-z_]*\.h"' "$f" | sed 's/.*mixfs\/\(.*\)\.h"/\1/' |
		while read -r h; do
			case " $* " in *" $h "*) ;; *)
				echo "check-layers: $f includes mixfs/$h.h, outside its layer" >&2
				echo x ;;
			esac
		done
	done
}

bad=$( {
	allowed "src/util/*.c" util log hmap
	allowed "src/job/*.c" util log job plan request
	allowed "src/audio/*.c" util log plan mix
	allowed "src/core/*.c" util log hmap job plan request store cleanup core mix
	allowed "src/fs/*.c" util log job core fs request
} | wc -l)
for f in src/*/*.c src/*.c; do
	case "$f" in src/fs/*) continue ;; esac
	if grep -q '#include <fuse' "$f"; then echo "check-layers: $f includes FUSE" >&2; bad=$((bad + 1)); fi
done
for f in src/audio/*.c src/fs/*.c src/core/*.c; do
	[ -f "$f" ] || continue
	if grep -q '#include <cJSON.h>' "$f"; then echo "check-layers: $f includes cJSON" >&2; bad=$((bad + 1)); fi
done
[ "$bad" -eq 0 ] || fail=1
[ "$fail" -eq 0 ] && echo "check-layers: ok"
exit "$fail"
