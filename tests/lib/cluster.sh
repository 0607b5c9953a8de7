# cluster.sh - sourced by cases running several hosts over one MEDIA_DIR
# ($MEDIA) and one database ($PG_CONNINFO, tests/lib/pg.sh): host NAME is
# mounted on $T/NAME, logs to $T/NAME.log, its pid in $T/NAME.pid. Mount
# options: $OPTS, plus any given to host_start.

# host_start NAME [EXTRA]: mount NAME on $T/NAME; its pid in $T/NAME.pid
host_start() {
	mkdir -p "$T/$1"
	"$MIXFS" -f -o "database=$PG_CONNINFO,host=$1,$OPTS${2:+,$2}" "$MEDIA" "$T/$1" \
		2>>"$T/$1.log" &
	echo $! >"$T/$1.pid"
	for _i in $(seq 1 200); do
		[ -e "$T/$1/README" ] && return 0
		kill -0 "$(cat "$T/$1.pid")" 2>/dev/null || break
		sleep 0.05
	done
	sed 's/^/#   /' "$T/$1.log"
	return 1
}
pid_of() { cat "$T/$1.pid"; }
host_stop() {
	fusermount3 -u "$T/$1" 2>/dev/null || umount -l "$T/$1" 2>/dev/null
	for _i in $(seq 1 200); do kill -0 "$(pid_of "$1")" 2>/dev/null || return 0; sleep 0.05; done
	kill -9 "$(pid_of "$1")" 2>/dev/null
	return 1
}
# cluster_cleanup: the EXIT trap: every host and the database stopped,
# sanitizer reports in any log fail the case.
cluster_cleanup() {
	_status=$?
	for h in $HOSTS; do
		kill -CONT "$(pid_of "$h" 2>/dev/null)" 2>/dev/null
		host_stop "$h" 2>/dev/null
	done
	pg_stop
	if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/*.log 2>/dev/null; then
		grep -h -A30 "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/*.log | sed 's/^/#   /'
		_status=1
	fi
	rm -rf "$T"
	exit "$_status"
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
