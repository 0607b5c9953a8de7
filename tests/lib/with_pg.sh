#!/bin/sh
# with_pg.sh COMMAND...: run COMMAND with a PostgreSQL of its own (pg.sh),
# its connection string in MIXFS_TEST_DATABASE; the server is stopped and
# removed afterwards, whatever the command did.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg.sh"
trap pg_stop EXIT
trap "exit 143" TERM INT
pg_start || { echo "with_pg: cannot start PostgreSQL" >&2; exit 1; }
MIXFS_TEST_DATABASE=$PG_CONNINFO "$@"
