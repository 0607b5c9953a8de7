# cluster.sh - sourced, after mount.sh and pg.sh, by cases running several
# hosts over one MEDIA_DIR ($MEDIA) and one database ($PG_CONNINFO): host NAME is
# mounted on $T/NAME, logs to $T/NAME.log, its pid in $T/NAME.pid. Mount
# options: $OPTS, plus any given to host_start.

# host_start NAME [EXTRA]: mount NAME on $T/NAME; its pid in $T/NAME.pid,
# its exit status in $T/NAME.rc once it exits (whoever started it)
host_start() {
	mkdir -p "$T/$1"
	rm -f "$T/$1.pid" "$T/$1.rc"
	(
		"$MIXFS" -f -o "database=$PG_CONNINFO,host=$1,$OPTS${2:+,$2}" "$MEDIA" "$T/$1" \
			2>>"$T/$1.log" &
		echo $! >"$T/$1.pid.new"
		mv "$T/$1.pid.new" "$T/$1.pid"
		wait $!
		echo $? >"$T/$1.rc"
	) 2>/dev/null & # the shell's own "Killed" is not news: the case did it
	for _i in $(seq 1 100); do [ -e "$T/$1.pid" ] && break; sleep 0.02; done
	for _i in $(seq 1 200); do
		[ -e "$T/$1/README" ] && return 0
		kill -0 "$(cat "$T/$1.pid")" 2>/dev/null || break
		sleep 0.05
	done
	sed 's/^/#   /' "$T/$1.log"
	return 1
}
pid_of() { cat "$T/$1.pid"; }
# host_stop NAME: unmount; the daemon must exit within 10 s (else it is
# killed and this fails). host_status NAME then prints its exit status.
host_stop() {
	# a host already gone is not mounted: nothing to unmount
	fusermount3 -u "$T/$1" 2>/dev/null || umount -l "$T/$1" 2>/dev/null || :
	for _i in $(seq 1 200); do
		kill -0 "$(pid_of "$1")" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$(pid_of "$1")" 2>/dev/null
	return 1
}
host_status() {
	for _i in $(seq 1 100); do [ -e "$T/$1.rc" ] && break; sleep 0.02; done
	cat "$T/$1.rc" 2>/dev/null || echo "unknown"
}
# cluster_cleanup: the EXIT trap: every host and the database stopped,
# sanitizer reports in any log fail the case.
cluster_cleanup() {
	_status=$?
	for h in $HOSTS; do
		kill -CONT "$(pid_of "$h" 2>/dev/null)" 2>/dev/null
		host_stop "$h" 2>/dev/null
	done
	# a single host a case mounted with mixfs_mount (mount.sh)
	if [ -n "${MIXFS_PID:-}" ]; then mixfs_unmount || _status=1; fi
	pg_stop
	if grep -q "Sanitizer\|runtime error:" "$T"/*.log 2>/dev/null; then
		grep -h -A30 "Sanitizer\|runtime error:" "$T"/*.log | sed 's/^/#   /'
		_status=1
	fi
	rm -rf "$T"
	exit "$_status"
}
