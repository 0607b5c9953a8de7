# mount.sh - sourced by integration cases: a case owns its mount. The
# daemon runs in the foreground; the EXIT trap unmounts it, and a daemon
# that does not exit after unmount (or exits non-zero) fails the case.

# mixfs_mount MEDIA MOUNTPOINT [OPTIONS]: start and wait until it serves.
mixfs_mount() {
	_media=$1 _mp=$2 _opts=${3:-workers=1}
	mkdir -p "$_media" "$_mp"
	"$MIXFS" -f -o "$_opts" "$_media" "$_mp" 2>>"$_mp.log" &
	MIXFS_PID=$!
	MIXFS_MP=$_mp
	for _i in $(seq 1 100); do
		[ -e "$_mp/README" ] && return 0
		kill -0 "$MIXFS_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# mount failed:"; sed 's/^/#   /' "$_mp.log"
	return 1
}

# mixfs_unmount: fusermount3 -u, then the daemon must exit 0 within 10 s.
mixfs_unmount() {
	[ -n "${MIXFS_PID:-}" ] || return 0
	fusermount3 -u "$MIXFS_MP" 2>/dev/null || umount -l "$MIXFS_MP" 2>/dev/null
	mixfs_reap
}

# mixfs_reap: wait for the daemon (10 s at most) and check its status.
mixfs_reap() {
	_pid=$MIXFS_PID
	MIXFS_PID=
	for _i in $(seq 1 200); do
		kill -0 "$_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$_pid" 2>/dev/null; then
		kill -9 "$_pid"
		echo "# daemon $_pid did not exit after unmount"
		MIXFS_STATUS=99
		return 1
	fi
	wait "$_pid"
	MIXFS_STATUS=$?
	if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$MIXFS_MP.log" 2>/dev/null; then
		sed 's/^/#   /' "$MIXFS_MP.log"
		MIXFS_STATUS=98
	fi
	return "$MIXFS_STATUS"
}

# wait_for SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
	_n=$(awk -v s="$1" 'BEGIN { print int(s * 20) }')
	shift
	for _i in $(seq 1 "$_n"); do
		"$@" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# mixfs_cleanup: the EXIT trap; keeps the script's own exit status.
mixfs_cleanup() {
	_status=$?
	if [ -n "${MIXFS_PID:-}" ]; then mixfs_unmount || true; fi
	if [ -n "${T:-}" ]; then rm -rf "$T"; fi
	exit "$_status"
}
