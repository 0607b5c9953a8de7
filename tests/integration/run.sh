#!/bin/sh
# run.sh - run every integration case (t_*.sh) against $MIXFS, each owning
# its own mount. Cases print TAP; prove counts them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${MIXFS:?set MIXFS to the mixfs binary}"
export MIXFS
set -- "$here"/t_*.sh
[ -e "$1" ] || { echo "integration: no cases"; exit 0; }
exec prove -v --timer "$@"
