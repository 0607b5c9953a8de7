/* store.c - see store.h. Every file under MEDIA_DIR and the outputs folder
 * is reached from their descriptors, through folders opened with no
 * symlink at any level, and then by name within them (the *at calls). */
#include "mixfs/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixfs/log.h"
#include "store_impl.h"

/* ---- names ---- */

int store_session_path(const struct store *s, const char *sid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/%s", s->media, sid);
}

int store_stems_path(const struct store *s, const char *sid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/%s/stems", s->media, sid);
}

int store_record_path(const struct store *s, const char *sid, const char *jid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/%s/jobs/%s.json", s->media, sid, jid);
}

int store_index_path(const struct store *s, const char *jid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/jobs_index/%s.json", s->media, jid);
}

int store_output_path(const struct store *s, const char *sid, const char *jid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/%s/jobs/%s.wav", s->outputs, sid, jid);
}

int store_final_mix_path(const struct store *s, const char *sid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/%s/final_mix.wav", s->outputs, sid);
}

int store_index_rel(const char *jid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "jobs_index/%s.json", jid);
}

int store_output_rel(const char *sid, const char *jid, char *out)
{
	return util_fmt(out, STORE_PATH_MAX, "%s/jobs/%s.wav", sid, jid);
}

/* ---- folders ---- */

static int root_fd(const struct store *s, enum store_root root)
{
	return root == STORE_OUTPUTS ? s->outputs_fd : s->media_fd;
}

/* The folder @rel beneath @root ("" for the root itself: a new fd). */
int store_dir_open(const struct store *s, enum store_root root, const char *rel)
{
	int fd;

	if (!rel[0]) {
		fd = fcntl(root_fd(s, root), F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	return util_open_beneath(root_fd(s, root), rel, O_RDONLY | O_DIRECTORY, 0);
}

static int store_dir_openf(const struct store *s, enum store_root root, const char *fmt,
		     const char *a, const char *b)
{
	char rel[STORE_PATH_MAX];

	if (util_fmt(rel, sizeof(rel), fmt, a, b))
		return -ENAMETOOLONG;
	return store_dir_open(s, root, rel);
}

int store_stems_dirfd(const struct store *s, const char *sid)
{
	if (!util_valid_session_id(sid))
		return -ENOENT;
	return store_dir_openf(s, STORE_MEDIA, "%s/%s", sid, "stems");
}

int store_output_dirfd(const struct store *s, const char *sid, bool jobs)
{
	if (!util_valid_session_id(sid))
		return -ENOENT;
	return jobs ? store_dir_openf(s, STORE_OUTPUTS, "%s/%s", sid, "jobs")
		    : store_dir_openf(s, STORE_OUTPUTS, "%s%s", sid, "");
}

DIR *store_dir_stream(const struct store *s, enum store_root root, const char *rel, int *rc)
{
	int fd = store_dir_open(s, root, rel);
	DIR *d;

	if (fd < 0) {
		*rc = fd;
		return NULL;
	}
	if (!(d = fdopendir(fd))) {
		*rc = -errno;
		close(fd);
	}
	return d;
}

/* mkdir @name in @dirfd; an existing folder is fine, anything else there
 * (a symlink, a file) is not. */
static int mkdir_at(int dirfd, const char *name, unsigned mode)
{
	struct stat st;

	if (mkdirat(dirfd, name, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int unlink_at(int dirfd, const char *name)
{
	return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* ---- open and close ---- */

/* The lock is an open-file-description lock, so even a second open in the
 * same process conflicts; the holder's pid is the file's content. Cluster
 * hosts share it (@shared), which keeps a single-host daemon out while
 * they run and them out while it runs. */
static int store_lock(struct store *s, bool shared, char *err, size_t errlen)
{
	char pid[32] = "";
	struct flock fl = { .l_type = shared ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	int fd, n;

	fd = openat(s->media_fd, ".mixfs.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		n = -errno;
		snprintf(err, errlen, "%s/.mixfs.lock: cannot open lock: %s", s->media,
			 strerror(errno));
		return n;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (shared)
			snprintf(err, errlen, "%s is in use by a single-host mixfs (pid %s)",
				 s->media, pid[0] ? pid : "unknown");
		else
			snprintf(err, errlen, "%s is in use: its lock is held by %s", s->media,
				 pid[0] ? "pid " : "hosts sharing a database");
		if (!shared && pid[0])
			snprintf(err + strlen(err), errlen - strlen(err), "%s", pid);
		close(fd);
		return -EBUSY;
	}
	if (shared) {
		s->lock_fd = fd;
		return 0;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s/.mixfs.lock: cannot record our pid: %s", s->media, strerror(errno));
	s->lock_fd = fd;
	return 0;
}

static int open_media(struct store *s, const char *media, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	if (stat(media, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "MEDIA_DIR %s: %s", media, strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "MEDIA_DIR %s: not a folder", media);
		return -ENOTDIR;
	}
	if (access(media, W_OK | X_OK) < 0) {
		rc = -errno;
		snprintf(err, errlen, "MEDIA_DIR %s is not writable: %s", media, strerror(errno));
		return rc;
	}
	if ((s->media_fd = open(media, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "MEDIA_DIR %s: %s", media, strerror(errno));
		return rc;
	}
	return 0;
}

static int open_mode(struct store *s, const char *media, const char *outputs, bool shared,
		     char *err, size_t errlen)
{
	int rc;

	s->lock_fd = s->media_fd = s->outputs_fd = -1;
	if (util_fmt(s->media, sizeof(s->media), "%s", media) ||
	    util_fmt(s->outputs, sizeof(s->outputs), "%s", outputs)) {
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	if ((rc = open_media(s, media, err, errlen)) || (rc = store_lock(s, shared, err, errlen))) {
		store_close(s);
		return rc;
	}
	/* the outputs folder is the administrator's: made as its path says */
	if ((rc = mkdir_at(s->media_fd, "jobs_index", 0755)) || (rc = util_mkdir_p(outputs, 0755)) ||
	    (s->outputs_fd = open(outputs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = rc ? rc : -errno;
		snprintf(err, errlen, "cannot make %s/jobs_index or %s: %s", media, outputs,
			 strerror(-rc));
		store_close(s);
		return rc;
	}
	return 0;
}

/* A MEDIA_DIR whose records mixfs migrate moved into a database: a
 * single-host mount would run its jobs a second time. */
static int check_moved(struct store *s, char *err, size_t errlen)
{
	char where[512];
	ssize_t n;
	int fd = util_open_beneath(s->media_fd, STORE_MOVED_MARK, O_RDONLY, 0);

	if (fd == -ENOENT)
		return 0;
	n = fd >= 0 ? read(fd, where, sizeof(where) - 1) : 0;
	where[n > 0 ? n : 0] = '\0';
	where[strcspn(where, "\n")] = '\0';
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, "%s was moved into %s by mixfs migrate; mount it with -o database=",
		 s->media, where[0] ? where : "a database");
	return -EBUSY;
}

int store_open(struct store *s, const char *media, const char *outputs,
	       char *err, size_t errlen)
{
	int rc = open_mode(s, media, outputs, false, err, errlen);

	if (!rc && (rc = check_moved(s, err, errlen)))
		store_close(s);
	return rc;
}

int store_open_migrate(struct store *s, const char *media, const char *outputs,
		       char *err, size_t errlen)
{
	return open_mode(s, media, outputs, false, err, errlen);
}

int store_mark_moved(const struct store *s, const char *where)
{
	char text[1024];

	snprintf(text, sizeof(text), "%s\n", where);
	return util_write_atomic_at(s->media_fd, STORE_MOVED_MARK, text, strlen(text), 0644);
}

int store_open_shared(struct store *s, const char *media, const char *outputs,
		      char *err, size_t errlen)
{
	return open_mode(s, media, outputs, true, err, errlen);
}

void store_close(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->media_fd >= 0)
		close(s->media_fd);
	if (s->outputs_fd >= 0)
		close(s->outputs_fd);
	s->lock_fd = s->media_fd = s->outputs_fd = -1;
}

/* ---- records and the index ---- */

/* Write @text as @name in the folder @rel beneath MEDIA_DIR. */
static int write_in(const struct store *s, const char *rel, const char *name, const char *text)
{
	int dfd = store_dir_open(s, STORE_MEDIA, rel), rc;

	if (dfd < 0)
		return dfd;
	rc = util_write_atomic_at(dfd, name, text, strlen(text), 0644);
	close(dfd);
	return rc;
}

int store_write_record(const struct store *s, const struct job *j)
{
	char rel[STORE_PATH_MAX], name[JOB_ID_LEN + 8];
	char *text;
	int rc;

	if (util_fmt(rel, sizeof(rel), "%s/jobs", j->session) ||
	    util_fmt(name, sizeof(name), "%s.json", j->id))
		return -ENAMETOOLONG;
	if (!(text = job_to_json(j)))
		return -ENOMEM;
	rc = write_in(s, rel, name, text);
	free(text);
	return rc;
}

/* A job's index file: its name and its text. */
static void index_file(const struct job *j, char name[JOB_ID_LEN + 8], char text[256])
{
	snprintf(name, JOB_ID_LEN + 8, "%s.json", j->id);
	snprintf(text, 256, "{\"job_id\": \"%s\", \"session_id\": \"%s\"}\n", j->id, j->session);
}

int store_write_index(const struct store *s, const struct job *j)
{
	char name[JOB_ID_LEN + 8], text[256];

	index_file(j, name, text);
	return write_in(s, "jobs_index", name, text);
}

int store_repair_index(const struct store *s, const struct job *j)
{
	char name[JOB_ID_LEN + 8], text[256], tmp[UTIL_TEMP_NAME_MAX];
	int dfd = store_dir_open(s, STORE_MEDIA, "jobs_index"), fd, rc = 0;
	size_t len;

	if (dfd < 0)
		return dfd;
	index_file(j, name, text);
	len = strlen(text);
	if ((fd = util_temp_open_at(dfd, name, tmp)) < 0) {
		close(dfd);
		return fd;
	}
	if ((rc = util_write_all(fd, text, len)) == 0 && fchmod(fd, 0644) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno;
	if (rc)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return rc;
}

int store_sync_index(const struct store *s)
{
	int dfd = store_dir_open(s, STORE_MEDIA, "jobs_index"), rc = 0;

	if (dfd < 0)
		return dfd;
	if (syncfs(dfd) < 0)
		rc = -errno;
	close(dfd);
	return rc;
}

/* Remove a job's record and index file, after a failed submit. */
static void unwrite_job(const struct store *s, const struct job *j, int why)
{
	char name[JOB_ID_LEN + 8];
	int jobs = store_dir_openf(s, STORE_MEDIA, "%s/%s", j->session, "jobs");
	int index = store_dir_open(s, STORE_MEDIA, "jobs_index");
	int rc = 0;

	snprintf(name, sizeof(name), "%s.json", j->id);
	if (jobs >= 0)
		rc = unlink_at(jobs, name) || fsync(jobs) < 0;
	if (index >= 0)
		rc |= unlink_at(index, name) || fsync(index) < 0;
	if (rc || (index < 0 && index != -ENOENT))
		log_error("job %s: its record could not be written (%s), nor its files "
			  "removed; the next mount decides", j->id, strerror(-why));
	if (jobs >= 0)
		close(jobs);
	if (index >= 0)
		close(index);
}

int store_write_job(const struct store *s, const struct job *j)
{
	int sfd, rc;

	/* a session uploaded by other means may have stems/ and no jobs/ yet */
	if ((sfd = store_dir_open(s, STORE_MEDIA, j->session)) < 0)
		return sfd;
	rc = mkdir_at(sfd, "jobs", 0755);
	close(sfd);
	if (rc || (rc = store_write_index(s, j)))
		return rc;
	/* the record's rename is the commit point; it may have happened
	 * before a later sync failed */
	if ((rc = store_write_record(s, j)))
		unwrite_job(s, j, rc);
	return rc;
}

int store_each_index(const struct store *s, void (*fn)(void *ctx, const char *jid), void *ctx)
{
	char jid[JOB_ID_LEN + 1];
	struct dirent *e;
	int rc = 0;
	DIR *d = store_dir_stream(s, STORE_MEDIA, "jobs_index", &rc);

	if (!d)
		return rc;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != JOB_ID_LEN + 5 || strcmp(e->d_name + JOB_ID_LEN, ".json"))
			continue;
		memcpy(jid, e->d_name, JOB_ID_LEN);
		jid[JOB_ID_LEN] = '\0';
		if (job_id_valid(jid))
			fn(ctx, jid);
	}
	closedir(d);
	return 0;
}

int store_index_session(const struct store *s, const char *jid, char sid[JOB_SESSION_MAX + 1])
{
	char name[JOB_ID_LEN + 8], *text = NULL, *p, *q;
	int dfd = store_dir_open(s, STORE_MEDIA, "jobs_index");
	size_t len;
	int rc;

	if (dfd < 0)
		return dfd;
	snprintf(name, sizeof(name), "%s.json", jid);
	rc = util_read_file_at(dfd, name, 4096, &text, &len);
	close(dfd);
	if (rc)
		return rc;
	rc = -EINVAL;
	if ((p = strstr(text, "\"session_id\"")) && (p = strchr(p + 12, '"')) &&
	    (q = strchr(p + 1, '"')) && q - p - 1 <= JOB_SESSION_MAX) {
		snprintf(sid, JOB_SESSION_MAX + 1, "%.*s", (int)(q - p - 1), p + 1);
		rc = util_valid_session_id(sid) ? 0 : -EINVAL;
	}
	free(text);
	return rc;
}

/* ---- files left behind ---- */

/* The folder holding @rel, opened, and its last name in *@base. */
static int parent_open(const struct store *s, enum store_root root, const char *rel,
		       char dir[STORE_PATH_MAX], const char **base)
{
	const char *slash = strrchr(rel, '/');

	if (util_fmt(dir, STORE_PATH_MAX, "%.*s", slash ? (int)(slash - rel) : 0, rel))
		return -ENAMETOOLONG;
	*base = slash ? slash + 1 : rel;
	return store_dir_open(s, root, dir);
}

int store_file_mtime(const struct store *s, enum store_root root, const char *rel,
		     util_ms *out)
{
	char dir[STORE_PATH_MAX];
	const char *base;
	struct stat st;
	int dfd = parent_open(s, root, rel, dir, &base), rc = 0;

	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	else
		*out = (util_ms)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	close(dfd);
	return rc;
}

int store_file_unlink(const struct store *s, enum store_root root, const char *rel)
{
	char dir[STORE_PATH_MAX];
	const char *base;
	int dfd = parent_open(s, root, rel, dir, &base), rc;

	if (dfd < 0)
		return dfd == -ENOENT ? 0 : dfd;
	if (!(rc = unlink_at(dfd, base)) && fsync(dfd) < 0)
		rc = -errno;
	close(dfd);
	return rc;
}

/* ---- deleting a job ---- */

static bool same_bytes(int fa, int fb)
{
	char x[65536], y[65536];

	for (;;) {
		ssize_t nx = read(fa, x, sizeof(x)), ny = read(fb, y, sizeof(y));

		if (nx < 0 || nx != ny || memcmp(x, y, (size_t)nx) != 0)
			return false;
		if (nx == 0)
			return true;
	}
}

/* The session's final_mix.wav is this job's output when it is the same
 * inode (how it is published) or, from an older writer, identical bytes. */
static bool final_is_output(int sess_out, int jobs_out, const char *out_name)
{
	struct stat a, b;
	int fa, fb;
	bool same;

	if (fstatat(sess_out, "final_mix.wav", &a, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fstatat(jobs_out, out_name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(a.st_mode) || !S_ISREG(b.st_mode))
		return false;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return true;
	if (a.st_size != b.st_size)
		return false;
	fa = openat(sess_out, "final_mix.wav", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	fb = openat(jobs_out, out_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	same = fa >= 0 && fb >= 0 && same_bytes(fa, fb);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/* The job's outputs: the session's final_mix.wav when it is this job's,
 * then the job's own mix, named by its id, which only this job ever
 * writes (a failed job may have left one). */
static int delete_outputs(const struct store *s, const struct job *j, int with_output)
{
	char out[JOB_ID_LEN + 8];
	int sess_out = store_output_dirfd(s, j->session, false), jobs_out = -1, rc = 0;

	if (sess_out == -ENOENT)
		return 0;
	if (sess_out < 0)
		return sess_out;
	snprintf(out, sizeof(out), "%s.wav", j->id);
	jobs_out = store_output_dirfd(s, j->session, true);
	if (jobs_out < 0 && jobs_out != -ENOENT)
		rc = jobs_out;
	if (!rc && jobs_out >= 0 && with_output && final_is_output(sess_out, jobs_out, out))
		rc = unlink_at(sess_out, "final_mix.wav");
	if (!rc && jobs_out >= 0)
		rc = unlink_at(jobs_out, out);
	if (jobs_out >= 0)
		close(jobs_out);
	close(sess_out);
	return rc;
}

int store_delete_job(const struct store *s, const struct job *j, int with_output)
{
	char rel[STORE_PATH_MAX];
	int rc;

	if ((rc = delete_outputs(s, j, with_output)) ||
	    (rc = store_index_rel(j->id, rel)) || (rc = store_file_unlink(s, STORE_MEDIA, rel)) ||
	    (rc = util_fmt(rel, sizeof(rel), "%s/jobs/%s.json", j->session, j->id)))
		return rc;
	return store_file_unlink(s, STORE_MEDIA, rel);
}

/* ---- sessions ---- */

int store_session_create(const struct store *s, const char *sid, uid_t uid, gid_t gid)
{
	static const char *const subdirs[] = { "stems", "jobs" };
	int sfd, rc = 0;

	if (!util_valid_session_id(sid))
		return -EINVAL;
	if (mkdirat(s->media_fd, sid, 0755) < 0)
		return -errno;
	if ((sfd = store_dir_open(s, STORE_MEDIA, sid)) < 0)
		return sfd;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(sfd, uid, gid) < 0)
		rc = -errno;
	for (size_t i = 0; !rc && i < sizeof(subdirs) / sizeof(*subdirs); i++) {
		if ((rc = mkdir_at(sfd, subdirs[i], 0755)))
			break;
		if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
		    fchownat(sfd, subdirs[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
	}
	if (!rc && (fsync(sfd) < 0 || fsync(s->media_fd) < 0))
		rc = -errno;
	close(sfd);
	return rc;
}

int store_session_stat(const struct store *s, const char *sid, struct stat *out)
{
	if (!util_valid_session_id(sid))
		return -ENOENT;
	if (fstatat(s->media_fd, sid, out, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return S_ISDIR(out->st_mode) ? 0 : -ENOENT;
}

int store_session_owner(const struct store *s, const char *sid, uid_t *uid)
{
	struct stat st;
	int rc = store_session_stat(s, sid, &st);

	if (!rc)
		*uid = st.st_uid;
	return rc;
}

/* ---- outputs ---- */

int store_output_dir(const struct store *s, const char *sid)
{
	int sfd, rc;

	if (!util_valid_session_id(sid))
		return -EINVAL;
	if ((rc = mkdir_at(s->outputs_fd, sid, 0755)))
		return rc;
	if ((sfd = store_dir_open(s, STORE_OUTPUTS, sid)) < 0)
		return sfd;
	rc = mkdir_at(sfd, "jobs", 0755);
	close(sfd);
	return rc;
}

int store_discard_output(const struct store *s, const char *sid, const char *jid)
{
	char rel[STORE_PATH_MAX];
	int rc = store_output_rel(sid, jid, rel);

	return rc ? rc : store_file_unlink(s, STORE_OUTPUTS, rel);
}

/* Is @name an attempt's file of @jid: ".JID.attemptN.wav", or the temp
 * file of one (".<that>.tmp.XXXXXX")? */
static bool is_attempt_file(const char *name, const char *jid)
{
	const char *p = name + (strncmp(name, "..", 2) == 0 ? 2 : 1);

	return name[0] == '.' && strncmp(p, jid, JOB_ID_LEN) == 0 &&
	       strncmp(p + JOB_ID_LEN, ".attempt", 8) == 0;
}

int store_sweep_attempts(const struct store *s, const char *sid, const char *jid)
{
	char rel[STORE_PATH_MAX];
	struct dirent *e;
	int rc = 0, fd;
	DIR *d;

	if (util_fmt(rel, sizeof(rel), "%s/jobs", sid))
		return -ENAMETOOLONG;
	if (!(d = store_dir_stream(s, STORE_OUTPUTS, rel, &rc)))
		return rc == -ENOENT ? 0 : rc;
	fd = dirfd(d);
	while ((e = readdir(d)))
		if (is_attempt_file(e->d_name, jid) && unlinkat(fd, e->d_name, 0) < 0 && errno != ENOENT)
			rc = -errno;
	closedir(d);
	return rc;
}

int store_publish_final(const struct store *s, const char *sid, const char *jid)
{
	char out[JOB_ID_LEN + 8], tmp[JOB_ID_LEN + 32];
	int sess_out = store_output_dirfd(s, sid, false), jobs_out, rc = 0;

	if (sess_out < 0)
		return sess_out;
	if ((jobs_out = store_output_dirfd(s, sid, true)) < 0) {
		close(sess_out);
		return jobs_out;
	}
	snprintf(out, sizeof(out), "%s.wav", jid);
	snprintf(tmp, sizeof(tmp), ".final_mix.tmp.%s", jid);
	unlinkat(sess_out, tmp, 0);
	if (linkat(jobs_out, out, sess_out, tmp, 0) < 0)
		rc = -errno;
	else if (renameat(sess_out, tmp, sess_out, "final_mix.wav") < 0)
		rc = -errno;
	if (rc)
		unlinkat(sess_out, tmp, 0);
	else if (fsync(sess_out) < 0)
		rc = -errno;
	close(jobs_out);
	close(sess_out);
	return rc;
}
