#!/bin/sh
# t_tree.sh - the mounted tree, the drop box and the live job files, used
# with the tools users use. No workers: jobs stay queued, and final states
# come from cancel and from records written before the mount.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/mount.sh"
: "${MIXFS:?}"
T=$(mktemp -d /tmp/mixfs-tree.XXXXXX)
trap mixfs_cleanup EXIT
M=$T/mnt
S=$M/sessions/s1
mixfs_mount "$T/media" "$M" workers=0 || { echo "Bail out! cannot mount"; exit 1; }
jobs_count() { ls "$S/jobs" | wc -l; }
state_of() { cat "$S/jobs/$1/state"; }

# --- the tree
check "root holds README, stats, sessions, jobs" \
	test "$(ls "$M" | tr '\n' ' ')" = "README jobs sessions stats "
check "README says what the tree is" grep -q "drop a request" "$M/README"
check "mkdir makes a session" mkdir "$S"
check "a session has stems, requests, jobs" test -d "$S/stems" -a -d "$S/requests" -a -d "$S/jobs"
check "a bad session name is refused" sh -c "! mkdir '$M/sessions/.hidden' 2>/dev/null"
printf 'RIFF' >"$T/a.wav"
check "stems/ is a real folder: cp" cp "$T/a.wav" "$S/stems/a.wav"
check "stems/ is a real folder: on disk" test -f "$T/media/s1/stems/a.wav"
check "stems/ is a real folder: mv, rm" sh -c "mv '$S/stems/a.wav' '$S/stems/b.wav' && rm '$S/stems/b.wav' && [ -z \"\$(ls '$S/stems')\" ]"

# --- the drop box, with every way of writing a file
echo '{}' >"$T/req.json"
cp "$T/req.json" "$S/requests/cp.json"
j_cp=$(cat "$S/requests/cp.json")
check "cp drops a request; the receipt is its job id ($j_cp)" test -d "$S/jobs/$j_cp"
printf '%s\n' "$j_cp" >"$T/receipt.want"
check "... exactly the id and a newline" cmp -s "$S/requests/cp.json" "$T/receipt.want"
echo '{"master": null}' >"$S/requests/redirect.json"
j_redir=$(cat "$S/requests/redirect.json")
check "cat > drops a request" test "$(state_of "$j_redir")" = queued
echo '{}' | tee "$S/requests/tee.json" >/dev/null
check "tee drops a request" test -d "$S/jobs/$(cat "$S/requests/tee.json")"
cp "$T/req.json" "$T/moved.json"
check "mv from another filesystem drops a request" mv "$T/moved.json" "$S/requests/moved.json"
check "... and its receipt names a job" test -d "$S/jobs/$(cat "$S/requests/moved.json")"
vim_bin=$(command -v vim || command -v vim.tiny || command -v vi)
if [ -n "$vim_bin" ]; then
	# ex commands on stdin: what a script driving vim does (vim-tiny too)
	n0=$(jobs_count)
	printf 'a\n{"output": {"bit_depth": 16}}\n.\nw %s\nq\n' "$S/requests/vim.json" |
		"$vim_bin" -es -u NONE -i NONE >/dev/null 2>&1
	check "vim -es writes a request (one job; its swap files enqueue nothing)" \
		test "$(($(jobs_count) - n0))" = 1 -a -d "$S/jobs/$(cat "$S/requests/vim.json")"
	n0=$(jobs_count)
	printf '%%%%d\na\n{"output": {"bit_depth": 24}}\n.\nwq\n' |
		"$vim_bin" -es -u NONE -i NONE "$S/requests/vim.json" >/dev/null 2>&1
	check "vim -es writing over a receipt makes one new job" test "$(($(jobs_count) - n0))" = 1
	check "... and the receipt follows it" grep -q '"bit_depth": 24' "$S/jobs/$(cat "$S/requests/vim.json")/request.json"
else
	not_ok "vim is not installed (make test installs vim-tiny)"
fi
if command -v rsync >/dev/null; then
	n0=$(jobs_count)
	rsync "$T/req.json" "$S/requests/rsync.json"
	check "rsync (write a dot-temp, then rename) drops exactly one request" \
		test "$(($(jobs_count) - n0))" = 1 -a -d "$S/jobs/$(cat "$S/requests/rsync.json")"
else
	not_ok "rsync is not installed (make test installs it)"
fi

# drafts never enqueue, until renamed to a plain name
n0=$(jobs_count)
for d in .hidden.json take.json~ take.tmp take.part take.swp; do cp "$T/req.json" "$S/requests/$d"; done
touch "$S/requests/empty.json"
check "drafts and an empty file enqueue nothing" test "$(jobs_count)" = "$n0"
check "drafts stay listed as files" test -f "$S/requests/take.part" -a -f "$S/requests/empty.json"
mv "$S/requests/take.part" "$S/requests/renamed.json"
check "a draft renamed to a plain name is dropped" test "$(jobs_count)" = "$((n0 + 1))"
check "... and reads back its job id" test -d "$S/jobs/$(cat "$S/requests/renamed.json")"

# an invalid request fails close() with EINVAL and keeps what was written
printf '{\n  "stems": [{"file": "a.wav", "gain_db": 99}]\n}\n' >"$T/bad.json"
cp "$T/bad.json" "$S/requests/bad.json" 2>"$T/cp.err"
check "an invalid request fails cp: $(cat "$T/cp.err")" grep -q "Invalid argument" "$T/cp.err"
j_bad=$(cat "$S/requests/bad.json")
check "... leaving an error job ($j_bad)" test "$(state_of "$j_bad")" = error
check "... whose error names the key" grep -q 'stems\[0\].gain_db' "$S/jobs/$j_bad/error"
check "... and which holds the submitted text" cmp -s "$T/bad.json" "$S/jobs/$j_bad/request.json"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
n0=$(jobs_count)
cp "$T/big.json" "$S/requests/big.json" 2>"$T/cp.err"
check "over 1 MiB fails with EFBIG: $(head -1 "$T/cp.err")" grep -q "File too large" "$T/cp.err"
check "... and leaves nothing behind" test "$(jobs_count)" = "$n0" -a ! -e "$S/requests/big.json"

# 50 drops at once are 50 jobs
mkdir "$M/sessions/many"
pids=
for i in $(seq 1 50); do cp "$T/req.json" "$M/sessions/many/requests/r$i.json" & pids="$pids $!"; done
wait $pids
check "50 concurrent cp give 50 distinct jobs" \
	test "$(for i in $(seq 1 50); do cat "$M/sessions/many/requests/r$i.json"; done | sort -u | wc -l)" = 50 \
	-a "$(ls "$M/sessions/many/jobs" | wc -l)" = 50

# --- fresh text through the page cache: a job's text files are cached by
# the kernel between changes; every read right after a change must show
# it (read each file twice first, so its pages are there to go stale)
stale=0
for i in $(seq 1 50); do
	d=$M/sessions/many/jobs/$(cat "$M/sessions/many/requests/r$i.json")
	for f in state job.json progress state job.json; do cat "$d/$f" >/dev/null; done
	echo cancel >"$d/ctl"
	st=$(cat "$d/state")
	size=$(stat -c %s "$d/state")
	grep -q '"state":.*"error"' "$d/job.json" && jsok=yes || jsok=no
	if [ "$st" != error ] || [ "$size" != 6 ] || [ "$jsok" != yes ]; then
		stale=$((stale + 1))
		diag "job $i: state '$st' (size $size), job.json says error: $jsok"
	fi
done
check "50 cancels: state, its size and job.json read right after each are never stale" test "$stale" = 0

# --- live files
j=$(cat "$S/requests/cp.json")
check "job folder holds the files of SPEC 5" \
	test "$(ls "$S/jobs/$j" | tr '\n' ' ')" = "ctl error job.json log progress request.json state wait "
check "progress reads 0" test "$(cat "$S/jobs/$j/progress")" = 0
check "job.json is the record" grep -q "\"job_id\":.*\"$j\"" "$S/jobs/$j/job.json"
check "/jobs/JID links to the job" test "$(cat "$M/jobs/$j/state")" = queued
check "latest links to the newest job" test "$(readlink "$S/latest")" = "jobs/$j_bad"
check "writing a read-only file fails" sh -c "! (echo x >'$S/jobs/$j/state') 2>/dev/null"
check "writing README fails" sh -c "! (echo x >'$M/README') 2>/dev/null"
check "rmdir of an active job is EBUSY" sh -c "rmdir '$S/jobs/$j' 2>&1 | grep -q 'busy'"
before=$(cat "$S/jobs/$j/state")
cat "$S/jobs/$j/wait" >"$T/wait.out" &
wpid=$!
sleep 0.5
check "wait blocks while the job is active" kill -0 "$wpid"
# fifty more readers blocked on wait
wpids=
for i in $(seq 1 50); do cat "$S/jobs/$j/wait" >"$T/reader$i.out" & wpids="$wpids $!"; done
sleep 0.5
check "ls and cat state still answer with 51 blocked readers" \
	sh -c "timeout 5 ls -l '$S/jobs' >/dev/null && timeout 5 cat '$S/jobs/$j/state' >/dev/null"
python3 - "$S/jobs/$j/state" >"$T/poll.out" 2>&1 <<'PY' &
import select, sys
f = open(sys.argv[1]); f.read()
p = select.poll(); p.register(f, select.POLLPRI)
import time
t0 = time.monotonic()
r = p.poll(10000)
print("woke after %.2f s" % (time.monotonic() - t0) if r else "timeout")
PY
ppid=$!
sleep 0.3
echo cancel >"$S/jobs/$j/ctl"
after=$(cat "$S/jobs/$j/state")
check "cat state twice across a change: '$before' then '$after'" test "$before" = queued -a "$after" = error
wait "$wpid" $wpids
check "wait returns the final state" test "$(cat "$T/wait.out")" = error
check "all 50 blocked readers return it too" test "$(cat "$T"/reader*.out | grep -c '^error$')" = 50
wait "$ppid"
# the kernel's own poll timeout must not be what wakes it: within 2 s
check "poll() on state wakes on the change: $(cat "$T/poll.out")" \
	awk '/^woke after/ { exit !($3 < 2) } END { if (NR == 0) exit 1 }' "$T/poll.out"
check "the error file says cancelled" test "$(cat "$S/jobs/$j/error")" = cancelled
check "cancel on a final job changes nothing and succeeds" sh -c "echo cancel >'$S/jobs/$j/ctl' && [ \"\$(cat '$S/jobs/$j/state')\" = error ]"
check "rmdir deletes a final job" rmdir "$S/jobs/$j"
check "... gone from ls, stat, /jobs and disk" sh -c "! ls '$S/jobs' | grep -q '$j' && ! stat '$S/jobs/$j' 2>/dev/null && ! stat '$M/jobs/$j' 2>/dev/null && [ ! -e '$T/media/s1/jobs/$j.json' ]"

# Ctrl-C on a blocked wait
j2=$(cat "$S/requests/tee.json")
timeout -k 3 -s INT 1 cat "$S/jobs/$j2/wait" >/dev/null # -k: a stuck read fails, not hangs
rc=$?
check "Ctrl-C interrupts a blocked wait (status $rc)" test "$rc" = 124 -o "$rc" = 130
check "stats counts jobs by state" sh -c "grep -q '^queued: [1-9]' '$M/stats' && grep -q '^error: [1-9]' '$M/stats' && grep -q '^last_cleanup_at: 20' '$M/stats'"

# --- permissions: a second user
user=mixfs-t$$
if useradd -M -N -s /bin/sh "$user" 2>/dev/null; then
	uid=$(id -u "$user")
	mixfs_unmount
	check "daemon exited 0 after unmount" test "$MIXFS_STATUS" = 0
	chmod 755 "$T"
	mixfs_mount "$T/media" "$M" workers=0,allow_other,default_permissions
	as_user() { setpriv --reuid="$uid" --regid=100 --clear-groups -- "$@"; }
	j3=$(cat "$S/requests/redirect.json")
	check "another user can read a session" sh -c "setpriv --reuid=$uid --regid=100 --clear-groups -- cat '$S/jobs/$j3/state' >/dev/null"
	check "... but not write into it" sh -c "! setpriv --reuid=$uid --regid=100 --clear-groups -- cp '$T/req.json' '$S/requests/x.json' 2>/dev/null"
	check "... nor cancel its jobs" sh -c "! setpriv --reuid=$uid --regid=100 --clear-groups -- sh -c 'echo cancel > $S/jobs/$j3/ctl' 2>/dev/null"
	check "... and the job is untouched" test "$(state_of "$j3")" = queued
	check "the user makes a session of their own" as_user mkdir "$M/sessions/theirs"
	as_user cp "$T/req.json" "$M/sessions/theirs/requests/r.json"
	j4=$(cat "$M/sessions/theirs/requests/r.json")
	check "... and their job records their uid" grep -q "\"owner_uid\":.*$uid" "$M/sessions/theirs/jobs/$j4/job.json"
	check "... and they can cancel it" as_user sh -c "echo cancel > $M/sessions/theirs/jobs/$j4/ctl"
	user3=mixfs-u$$
	if useradd -M -N -s /bin/sh "$user3" 2>/dev/null; then
		uid3=$(id -u "$user3")
		as3() { setpriv --reuid="$uid3" --regid=100 --clear-groups -- "$@"; }
		as_user cp "$T/req.json" "$M/sessions/theirs/requests/r2.json"
		j6=$(cat "$M/sessions/theirs/requests/r2.json")
		check "a third user can read the second's job" sh -c "setpriv --reuid=$uid3 --regid=100 --clear-groups -- cat '$M/sessions/theirs/jobs/$j6/state' >/dev/null"
		check "... but not drop into their session" sh -c "! setpriv --reuid=$uid3 --regid=100 --clear-groups -- cp '$T/req.json' '$M/sessions/theirs/requests/y.json' 2>/dev/null"
		check "... nor delete their final job" sh -c "! setpriv --reuid=$uid3 --regid=100 --clear-groups -- rmdir '$M/sessions/theirs/jobs/$j4' 2>/dev/null"
		check "... which its owner may" as_user rmdir "$M/sessions/theirs/jobs/$j4"
		# the core holds the line itself, not only the kernel's permission check
		mixfs_unmount
		mixfs_mount "$T/media" "$M" workers=0,allow_other
		check "without default_permissions a third user still cannot cancel" \
			sh -c "! setpriv --reuid=$uid3 --regid=100 --clear-groups -- sh -c 'echo cancel > $M/sessions/theirs/jobs/$j6/ctl' 2>/dev/null"
		check "... (the job is untouched)" test "$(cat "$M/sessions/theirs/jobs/$j6/state")" = queued
		check "... nor drop into another's session" sh -c "! setpriv --reuid=$uid3 --regid=100 --clear-groups -- cp '$T/req.json' '$M/sessions/theirs/requests/z.json' 2>/dev/null"
		echo cancel >"$M/sessions/theirs/jobs/$j6/ctl"
		check "... nor delete their final job" sh -c "! setpriv --reuid=$uid3 --regid=100 --clear-groups -- rmdir '$M/sessions/theirs/jobs/$j6' 2>/dev/null && [ -d '$M/sessions/theirs/jobs/$j6' ]"
		userdel "$user3" 2>/dev/null
	else
		not_ok "cannot create a third user for the permission case"
	fi
	userdel "$user" 2>/dev/null
else
	not_ok "cannot create a second user for the permission case"
fi

# --- expiry: the pass on enqueue removes a final job at once
mixfs_unmount
mixfs_mount "$T/media" "$M" workers=0,failed_ttl=0.0005
j5=$(cat "$S/requests/redirect.json")
echo cancel >"$S/jobs/$j5/ctl"
stat "$S/jobs/$j5" >/dev/null
sleep 2
cp "$T/req.json" "$S/requests/after.json"
check "an expired job is gone from ls at once after an enqueue" sh -c "! ls '$S/jobs' | grep -q $j5"
check "... and from stat" wait_for 1 sh -c "! stat '$S/jobs/$j5' 2>/dev/null"
check "... and from disk" test ! -e "$T/media/s1/jobs/$j5.json" -a ! -e "$T/media/jobs_index/$j5.json"

# cleanup_interval: the pass also runs on its own, with no enqueue
mixfs_unmount
mixfs_mount "$T/media" "$M" workers=0,failed_ttl=0.0003,cleanup_interval=0.5
j6=$(cat "$S/requests/after.json")
echo cancel >"$S/jobs/$j6/ctl"
check "with cleanup_interval, an expired job goes without an enqueue" \
	wait_for 5 sh -c "! ls '$S/jobs' | grep -q $j6"

# --- a session's quota
mixfs_unmount
mixfs_mount "$T/media" "$M" workers=0,max_jobs_per_session=2
mkdir "$M/sessions/quota"
cp "$T/req.json" "$M/sessions/quota/requests/q1.json"
cp "$T/req.json" "$M/sessions/quota/requests/q2.json"
cp "$T/req.json" "$M/sessions/quota/requests/q3.json" 2>"$T/cp.err"
check "past max_jobs_per_session a drop fails with EDQUOT: $(head -1 "$T/cp.err")" grep -q "quota" "$T/cp.err"
check "... and creates nothing" test "$(ls "$M/sessions/quota/jobs" | wc -l)" = 2 -a ! -e "$M/sessions/quota/requests/q3.json"

# --- lifecycle
mixfs_unmount
check "fusermount3 -u: the daemon exits 0" test "$MIXFS_STATUS" = 0
"$MIXFS" -f "$T/nonexistent" "$M" 2>"$T/e1"; rc=$?
check "a missing MEDIA_DIR fails ($rc) with one line: $(cat "$T/e1")" test "$rc" != 0 -a "$(wc -l <"$T/e1")" = 1
"$MIXFS" -f "$T/media" "$T/nomount" 2>"$T/e2"; rc=$?
check "a missing mountpoint fails ($rc): $(cat "$T/e2")" test "$rc" != 0 -a "$(wc -l <"$T/e2")" = 1
"$MIXFS" -f -o bogus_option "$T/media" "$M" 2>"$T/e3"; rc=$?
check "a bad option fails ($rc): $(head -1 "$T/e3")" test "$rc" != 0
mixfs_mount "$T/media" "$M" workers=0
mkdir -p "$T/mnt2"
timeout -k 1 10 "$MIXFS" -f "$T/media" "$T/mnt2" 2>"$T/e4"; rc=$?
fusermount3 -u "$T/mnt2" 2>/dev/null
check "a second daemon on the same MEDIA_DIR refuses, naming the holder: $(cat "$T/e4")" \
	sh -c "[ $rc != 0 ] && grep -q 'pid $MIXFS_PID' '$T/e4'"
mkdir -p "$T/media2"
timeout -k 1 10 "$MIXFS" -f "$T/media2" "$M" 2>"$T/e5"; rc=$?
check "a busy mountpoint fails ($rc): $(cat "$T/e5")" test "$rc" != 0
kill -USR1 "$MIXFS_PID"
sleep 0.2
check "a stray SIGUSR1 changes nothing: still serving" test -e "$M/README"
kill -TERM "$MIXFS_PID"
mixfs_reap
check "SIGTERM (after it): the daemon exits 0 and unmounts" sh -c "[ $MIXFS_STATUS = 0 ] && ! mountpoint -q '$M'"

# records written before the mount, as the older manager left them
mkdir -p "$T/media/old/jobs" "$T/media/old/stems"
cat >"$T/media/old/jobs/11111111-2222-4333-8444-555555555555.json" <<JSON
{"job_id": "11111111-2222-4333-8444-555555555555", "session_id": "old", "state": "complete",
 "updated_at": "$(date -u +%Y-%m-%dT%H:%M:%S.000000+00:00)"}
JSON
cat >"$T/media/old/jobs/11111111-2222-4333-8444-666666666666.json" <<JSON
{"job_id": "11111111-2222-4333-8444-666666666666", "session_id": "old", "state": "error",
 "updated_at": "2020-01-01T00:00:00Z"}
JSON
printf '{"job_id": ' >"$T/media/old/jobs/11111111-2222-4333-8444-777777777777.json"
mkdir -p "$T/media/uploaded/stems" # a session made outside mixfs: no jobs/ yet
mixfs_mount "$T/media" "$M" workers=0
check "a session uploaded with only stems/ takes requests" cp "$T/req.json" "$M/sessions/uploaded/requests/first.json"
check "... and shows the job" test -d "$M/sessions/uploaded/jobs/$(cat "$M/sessions/uploaded/requests/first.json")"
check "an older record loads and shows" test "$(cat "$M/sessions/old/jobs/11111111-2222-4333-8444-555555555555/state")" = complete
check "an expired one is deleted by the pass at mount" test ! -e "$M/sessions/old/jobs/11111111-2222-4333-8444-666666666666"
check "a corrupt one is moved aside, not shown" sh -c "[ -e '$T/media/old/jobs/11111111-2222-4333-8444-777777777777.json.corrupt' ] && [ ! -e '$M/sessions/old/jobs/11111111-2222-4333-8444-777777777777' ]"
mixfs_unmount

# mount(8) as from fstab; "fuse.mixfs" finds mixfs in the PATH after
# make install, the "prog#source" form names the binary itself.
if mount -t fuse "$MIXFS#$T/media" "$M" -o workers=0 2>"$T/e6"; then
	check "mount -t fuse serves the tree" test -d "$M/sessions/s1"
	check "... and fusermount3 -u unmounts it" fusermount3 -u "$M"
else
	not_ok "mount -t fuse: $(cat "$T/e6")"
fi
done_testing
