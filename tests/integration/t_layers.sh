#!/bin/sh
# t_layers.sh - tools/check-layers.sh passes on the tree and fails on each
# include that breaks the layering, planted in a copy of it: a library
# header where it does not belong, another module's private header, and an
# include that only arrives through a header of the module's own.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
top=$(cd "$here/../.." && pwd)
T=$(mktemp -d /tmp/mixfs-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT

check "check-layers passes on the tree" sh -c "'$top/tools/check-layers.sh' >/dev/null 2>&1"

# plant FILE LINE DESCRIPTION WHAT: check-layers must fail on a copy with
# LINE added at the top of FILE, and name WHAT
plant() {
	rm -rf "$T/tree"
	mkdir "$T/tree"
	cp -r "$top/src" "$top/include" "$top/tools" "$T/tree/"
	{ echo "$2"; cat "$T/tree/$1"; } >"$T/tree/$1.new"
	mv "$T/tree/$1.new" "$T/tree/$1"
	ROOT="$T/tree" "$T/tree/tools/check-layers.sh" >/dev/null 2>"$T/err"
	rc=$?
	check "$3 fails check-layers: $(head -1 "$T/err")" sh -c "[ $rc != 0 ] && grep -q '$4' '$T/err'"
}
plant src/fs/nodes.c '#include <sndfile.h>' "<sndfile.h> in src/fs" "nodes.c reaches .*sndfile.h"
plant src/fs/nodes.c '#include "../core/core_impl.h"' "core_impl.h in src/fs" "nodes.c reaches src/core/core_impl.h"
plant src/core/cleanup.c '#include <fuse_lowlevel.h>' "<fuse_lowlevel.h> in src/core" "cleanup.c reaches .*fuse_lowlevel.h"
plant src/audio/align.c '#include "mixfs/job.h"' "mixfs/job.h in src/audio" "align.c reaches include/mixfs/job.h"
plant src/audio/audio_impl.h '#include <cJSON.h>' "<cJSON.h> arriving in src/audio through its own header" "reaches .*cJSON.h"
plant src/fs/attr.c '#include <libpq-fe.h>' "<libpq-fe.h> in src/fs" "attr.c reaches .*libpq-fe.h"
plant src/core/cache.c '#include "../pg/pg_impl.h"' "pg_impl.h in src/core" "cache.c reaches src/pg/pg_impl.h"
plant src/pg/rows.c '#include "mixfs/core.h"' "mixfs/core.h in src/pg" "rows.c reaches include/mixfs/core.h"

# check-globals: the FUSE layer's objects have no mutable file-scope
# variable; one planted in a copy of nodes.c is named
mkdir -p "$T/fs"
for f in "$top"/src/fs/*.c; do
	cc -std=c17 -D_GNU_SOURCE -I"$top/include" $(pkg-config --cflags fuse3 sndfile) -c \
		-o "$T/fs/$(basename "$f" .c).o" "$f"
done
check "check-globals passes on the FUSE layer's objects" sh -c "'$top/tools/check-globals.sh' '$T'/fs/*.o >/dev/null 2>&1"
{ cat "$top/src/fs/nodes.c"; echo 'int planted_counter;'; } >"$T/nodes.c"
cc -std=c17 -D_GNU_SOURCE -I"$top/include" -I"$top/src/fs" $(pkg-config --cflags fuse3) -c \
	-o "$T/nodes.o" "$T/nodes.c" 2>/dev/null
"$top/tools/check-globals.sh" "$T/nodes.o" >/dev/null 2>"$T/err"
rc=$?
check "a planted global fails check-globals: $(cat "$T/err")" sh -c "[ $rc != 0 ] && grep -q planted_counter '$T/err'"

done_testing
