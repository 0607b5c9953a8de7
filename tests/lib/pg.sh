# pg.sh - sourced by cases that need PostgreSQL: a private server of our
# own, started as the postgres user in a temp folder of its own (data, log
# and unix socket there; no TCP), stopped and removed by pg_stop. Nothing
# system-wide.

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

pg_as() { runuser -u postgres -- "$@"; }

# pg_start: initdb and start; sets PG_DIR and PG_CONNINFO (database
# "mixfs").
pg_start() {
	[ -x "$PG_BIN/initdb" ] || { echo "# no PostgreSQL server installed"; return 1; }
	PG_DIR=$(mktemp -d /tmp/mixfs-pg.XXXXXX) || return 1
	chown postgres "$PG_DIR"
	chmod 755 "$PG_DIR"
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 || { sed 's/^/#   /' "$PG_DIR/initdb.log"; return 1; }
	pg_up || return 1
	pg_as "$PG_BIN/createdb" -h "$PG_DIR" -U postgres mixfs || return 1
	PG_CONNINFO="postgresql:///mixfs?host=$PG_DIR&user=postgres"
}

# pg_up / pg_down: start and stop the server (its data kept).
pg_up() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
		-o "-k $PG_DIR -c listen_addresses= -c fsync=off -c max_connections=100" \
		start >/dev/null || { sed 's/^/#   /' "$PG_DIR/server.log"; return 1; }
}
pg_down() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null
}

# psql on the case's database: pg_sql "SELECT ..." prints bare rows.
pg_sql() {
	pg_as "$PG_BIN/psql" -h "$PG_DIR" -U postgres -d mixfs -XAtq -c "$1"
}

# pg_stop: stop the server if it runs (fast, else at once) and remove its
# folder. For EXIT traps: it never fails, so a trap under `set -e` goes on.
pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		pg_down 2>/dev/null ||
			pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
			:
	fi
	rm -rf "$PG_DIR"
	PG_DIR=
}
