#!/bin/sh
# t_mixctl.sh - what an administrator and a shell user do: install into a
# DESTDIR, mount from an fstab line (mount -T, through mount.fuse3, which
# finds `mixfs` on its own PATH), verify the systemd unit, lint the man
# pages, and drive mixctl end to end.
#
# It runs in a private mount namespace, where the DESTDIR's bin/ and man/
# are bound over /usr/local's: mount(8) gives its helpers no PATH of ours,
# so that is how an install into a DESTDIR is found, and nothing outside
# the namespace changes.
set -u
if [ -z "${MIXFS_IN_NS:-}" ]; then
	MIXFS_IN_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
T=$(mktemp -d /tmp/mixfs-ctl.XXXXXX)
trap 'umount "$T/mnt" 2>/dev/null; sleep 0.2; rm -rf "$T"' EXIT
install_cmd=${MIXFS_INSTALL:-make --no-print-directory -s -C "$top" install}
ROOT=$T/root
BIN=$ROOT/usr/local/bin
C=$BIN/mixctl

# --- install, and the administrator's side
sh -c "$install_cmd DESTDIR='$ROOT'" >"$T/install.log" 2>&1
check "make install into a DESTDIR puts mixfs, mixctl and three pages there" \
	test -x "$BIN/mixfs" -a -x "$C" -a -f "$ROOT/usr/local/share/man/man1/mixctl.1" \
	-a -f "$ROOT/usr/local/share/man/man1/mixfs.1" -a -f "$ROOT/usr/local/share/man/man5/mixfs-request.5"
mkdir -p /usr/local/bin /usr/local/share/man
mount --bind "$BIN" /usr/local/bin
mount --bind "$ROOT/usr/local/share/man" /usr/local/share/man
lint=$(mandoc -Tlint "$ROOT"/usr/local/share/man/man1/*.1 "$ROOT"/usr/local/share/man/man5/*.5 2>&1)
check "mandoc -Tlint reports nothing on the three pages${lint:+: $lint}" test -z "$lint"
cp "$top/mount/mixfs@.service" "$T/mixfs@mnt-mix.service"
systemd-analyze verify "$T/mixfs@mnt-mix.service" >"$T/verify" 2>&1
rc=$?
check "systemd-analyze verify accepts the unit: $(head -1 "$T/verify")" test "$rc" = 0

"$C" ls >/dev/null 2>"$T/err"
rc=$?
check "with no mount, mixctl exits 2 saying so: $(cat "$T/err")" sh -c "[ $rc = 2 ] && grep -q 'no mixfs mount' '$T/err'"

M=$T/mnt
mkdir -p "$T/media" "$M" "$T/outs"
echo "$T/media $M fuse.mixfs outputs=$T/outs,workers=1,allow_other,default_permissions,_netdev 0 0" >"$T/fstab"
mount -T "$T/fstab" "$M" 2>"$T/err"
check "mount -T FSTAB mounts from an fstab line: $(cat "$T/err")" \
	sh -c "grep -q ' $M fuse.mixfs ' /proc/self/mounts && [ -e '$M/README' ]"

# --- the user's side
mkdir "$M/sessions/demo"
sox -n -r 48000 -b 24 -c 2 "$M/sessions/demo/stems/a.wav" synth 2 sine 220 gain -12
sox -n -r 48000 -b 24 -c 2 "$T/long.wav" synth 120 sine 330 gain -12
echo '{"master": {"target_lufs": -16}}' >"$T/take1.json"
j1=$("$C" submit demo "$T/take1.json")
check "submit FILE prints the job id ($j1)" test "${#j1}" = 36 -a -d "$M/sessions/demo/jobs/$j1"
check "... dropped under the file's own name" test "$(cat "$M/sessions/demo/requests/take1.json")" = "$j1"
echo '{"master": {"target": -16}}' >"$T/bad.json"
"$C" submit demo "$T/bad.json" >/dev/null 2>"$T/err"
rc=$?
check "submit of an invalid request exits 1 with the job's error: $(cat "$T/err")" \
	sh -c "[ $rc = 1 ] && grep -q 'master.target' '$T/err'"
j2=$(echo '{"master": null}' | "$C" submit demo -)
check "submit - reads the request from stdin ($j2)" grep -q '"master": null' "$M/sessions/demo/jobs/$j2/request.json"
j3=$("$C" submit demo)
check "submit with no request drops {}" test "$(cat "$M/sessions/demo/jobs/$j3/request.json")" = "{}"
"$C" submit nosuch >/dev/null 2>"$T/err"
rc=$?
check "submit into a missing session exits 2: $(cat "$T/err")" test "$rc" = 2

"$C" wait "$j1" "$j3" >"$T/wait.out"
rc=$?
check "wait (no terminal) exits 0 when all complete" test "$rc" = 0
check "... one line per change, ending complete" sh -c "grep -q '^$j1 complete 100$' '$T/wait.out' && grep -q '^$j3 complete 100$' '$T/wait.out'"
jbad=$(cat "$M/sessions/demo/requests/bad.json")
"$C" wait "$j1" "$jbad" >/dev/null
check "wait exits 1 when a job ended in error" test $? = 1

# jobs that stay queued: a second mount with no workers
Q=$T/mnt0
mixfs_mount "$T/media0" "$Q" workers=0 2>/dev/null
mkdir "$Q/sessions/demo"
jl=$("$C" -m "$Q" submit demo)
script -qec "'$C' -m '$Q' wait '$jl'" /dev/null >"$T/tty.out" 2>&1 &
spid=$!
sleep 0.5
"$C" -m "$Q" cancel "${jl%%-*}"
check "cancel by an id prefix exits 0" test $? = 0
wait "$spid"
rc=$?
check "wait on a terminal draws bars ($(tr -d '\033' <"$T/tty.out" | tail -c 60 | tr '\r\n' '  '))" \
	sh -c "grep -q '\\[\\.*\\]' '$T/tty.out' && grep -q 'queued' '$T/tty.out' && grep -q 'error' '$T/tty.out'"
check "... redraws in place (cursor-up escapes)" grep -q "$(printf '\033')\\[1A" "$T/tty.out"
check "... and exits 1 for the cancelled job ($rc)" test "$rc" = 1
jl2=$("$C" -m "$Q" submit demo)
timeout --preserve-status -s INT 1 "$C" -m "$Q" wait "$jl2" >/dev/null 2>&1
rc=$?
check "wait interrupted with Ctrl-C exits 130 ($rc)" test "$rc" = 130
"$C" -m "$Q" cancel "$jl2"
mixfs_unmount
check "... and that mount's daemon exits 0" test "$MIXFS_STATUS" = 0

"$C" ls >"$T/ls.out"
check "ls shows a table: header and jobs" sh -c "head -1 '$T/ls.out' | grep -q '^JOB *SESSION *STATE *PROG *OWNER *AGE *EXPIRES' && grep -q '^${j1%%-*} *demo *complete *100%' '$T/ls.out'"
n_json=$("$C" ls demo -o json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
check "ls -o json is the records ($n_json), one per job" test "$n_json" = "$(ls "$M/sessions/demo/jobs" | wc -l)"
check "ls --state=error lists only failed jobs" sh -c "'$C' ls --state=error | tail -n +2 | awk '{ if (\$3 != \"error\") exit 1 } END { exit NR == 0 }'"
check "show prints the record" sh -c "'$C' show ${j1%%-*} | grep -q '^state *complete'"
check "log prints the stages" sh -c "'$C' log $j1 | grep -q 'Z exporting'"
check "stats prints the counts" sh -c "'$C' stats | grep -q '^jobs: '"
"$C" rm "$jbad"
check "rm deletes a final job" test ! -e "$M/sessions/demo/jobs/$jbad"
jq=$(echo '{}' | "$C" submit demo -)
cp "$T/long.wav" "$M/sessions/demo/stems/long.wav"
echo '{"stems": [{"file": "long.wav"}]}' >"$T/long.json"
cp "$T/long.json" "$M/sessions/demo/requests/busy.json"
jbusy=$(cat "$M/sessions/demo/requests/busy.json")
"$C" rm "$jbusy" 2>"$T/err"
rc=$?
check "rm of an active job exits 1: $(cat "$T/err")" test "$rc" = 1
"$C" cancel "$jbusy" "$jq" >/dev/null 2>&1
"$C" show ffffffff >/dev/null 2>"$T/err"
rc=$?
check "an unknown job exits 2: $(cat "$T/err")" sh -c "[ $rc = 2 ] && grep -q 'no such job' '$T/err'"
for i in $(seq 1 17); do echo '[' | "$C" submit demo - >/dev/null 2>&1; done
amb=$(ls "$M/jobs" | cut -c1 | sort | uniq -d | head -1)
"$C" show "$amb" >/dev/null 2>"$T/err"
rc=$?
check "an ambiguous prefix exits 2: $(cat "$T/err")" sh -c "[ $rc = 2 ] && grep -q 'ambiguous' '$T/err'"
"$C" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? = 2
check "--help exits 0 and names the commands" sh -c "'$C' --help | grep -q 'submit SESSION'"

umount "$M"
check "umount of the fstab mount" sh -c "! grep -q ' $M ' /proc/self/mounts"

done_testing
