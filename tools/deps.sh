#!/bin/sh
# deps.sh [build|test|demo] - make sure the Debian packages mixfs needs are
# here. As root it installs what is missing with apt-get (after an
# apt-get update); otherwise it names the packages to install and fails.
set -eu
what=${1:-build}

# pkg-config module -> Debian package
libs="fuse3:libfuse3-dev libcjson:libcjson-dev uuid:uuid-dev sndfile:libsndfile1-dev
soxr:libsoxr-dev fftw3f:libfftw3-dev libpq:libpq-dev"
# command -> Debian package
cmds="gcc:gcc make:make pkg-config:pkg-config fusermount3:fuse3"
# file -> Debian package
files=""

if [ "$what" = test ] || [ "$what" = demo ]; then
	libs="$libs cmocka:libcmocka-dev libebur128:libebur128-dev"
	cmds="$cmds sox:sox ffmpeg:ffmpeg fluidsynth:fluidsynth midicsv:midicsv
espeak-ng:espeak-ng prove:perl python3:python3"
	files="/usr/share/sounds/sf2/TimGM6mb.sf2:timgm6mb-soundfont
/usr/share/planetblupi/music/music001.mid:planetblupi-music-midi
/usr/bin/time:time"
fi
if [ "$what" = test ]; then
	cmds="$cmds rsync:rsync vi:vim-tiny setpriv:util-linux unshare:util-linux script:bsdutils
mandoc:mandoc systemd-analyze:systemd runuser:util-linux"
	# the cluster tests start a PostgreSQL of their own (tests/lib/pg.sh)
	files="$files /usr/lib/postgresql/15/bin/initdb:postgresql-15"
fi

missing=""
for pair in $libs; do
	pkg-config --exists "${pair%%:*}" 2>/dev/null || missing="$missing ${pair#*:}"
done
for pair in $cmds; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
for pair in $files; do
	[ -e "${pair%%:*}" ] || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "mixfs needs these Debian packages; install them as root:" >&2
	echo "  apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
case $missing in *postgresql*)
	# the tests run their own server: the package must not make and start
	# a system-wide one
	mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/mixfs-tests.conf
esac
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
