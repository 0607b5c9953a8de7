#!/bin/sh
# check-globals.sh OBJ... - list file-scope (and function-static) variables
# that can change: objects in .data or .bss (and thread-local ones), read
# from the objects' symbol tables. Read-only data (.rodata, .data.rel.ro:
# constant tables holding pointers) is fine. Sanitizer bookkeeping is
# skipped. Fails if any is found: the FUSE layer keeps its state in its
# struct mixfs_fs.
set -eu
found=$(for o in "$@"; do
	objdump -t "$o" | awk -v obj="$o" '$0 ~ / O / {
		sec = $(NF - 2); name = $NF
		if (name ~ /^__(odr_)?(asan|ubsan|tsan)/) next
		if (sec ~ /^\.(data|bss|tdata|tbss)/ && sec !~ /^\.data\.rel\.ro/)
			print "check-globals: " obj ": " name " (" sec ")"
	}'
done)
if [ -n "$found" ]; then
	echo "$found" >&2
	exit 1
fi
echo "check-globals: ok ($# objects)"
