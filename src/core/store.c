/* store.c - see store.h. */
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

/* The lock is an open-file-description lock, so even a second open in the
 * same process conflicts; the holder's pid is the file's content. */
static int store_lock(struct store *s, char *err, size_t errlen)
{
	char path[STORE_PATH_MAX], pid[32] = "";
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd, n;

	if (util_fmt(path, sizeof(path), "%s/.mixfs.lock", s->media))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		n = -errno;
		snprintf(err, errlen, "%s: cannot open lock: %s", path, strerror(errno));
		return n;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "%s is in use: its lock is held by pid %s",
			 s->media, pid[0] ? pid : "(unknown)");
		close(fd);
		return -EBUSY;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s: cannot record our pid: %s", path, strerror(errno));
	s->lock_fd = fd;
	return 0;
}

int store_open(struct store *s, const char *media, const char *outputs,
	       char *err, size_t errlen)
{
	char path[STORE_PATH_MAX];
	struct stat st;
	int rc;

	s->lock_fd = -1;
	if (util_fmt(s->media, sizeof(s->media), "%s", media) ||
	    util_fmt(s->outputs, sizeof(s->outputs), "%s", outputs)) {
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
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
	rc = store_lock(s, err, errlen);
	if (rc)
		return rc;
	if ((rc = util_fmt(path, sizeof(path), "%s/jobs_index", media)) ||
	    (rc = util_mkdir_p(path, 0755)) || (rc = util_mkdir_p(outputs, 0755))) {
		snprintf(err, errlen, "cannot make %s or %s: %s", path, outputs, strerror(-rc));
		store_close(s);
		return rc;
	}
	return 0;
}

void store_close(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

int store_write_record(const struct store *s, const struct job *j)
{
	char path[STORE_PATH_MAX];
	char *text;
	int rc;

	if ((rc = store_record_path(s, j->session, j->id, path)))
		return rc;
	if (!(text = job_to_json(j)))
		return -ENOMEM;
	rc = util_write_atomic(path, text, strlen(text), 0644);
	free(text);
	return rc;
}

static int unlink_missing_ok(const char *path);

int store_write_index(const struct store *s, const struct job *j)
{
	char path[STORE_PATH_MAX], text[256];
	int rc;

	if ((rc = store_index_path(s, j->id, path)))
		return rc;
	snprintf(text, sizeof(text), "{\"job_id\": \"%s\", \"session_id\": \"%s\"}\n",
		 j->id, j->session);
	return util_write_atomic(path, text, strlen(text), 0644);
}

int store_write_job(const struct store *s, const struct job *j)
{
	char path[STORE_PATH_MAX], index[STORE_PATH_MAX];
	int rc;

	/* a session uploaded by other means may have stems/ and no jobs/ yet */
	if ((rc = util_fmt(path, sizeof(path), "%s/%s/jobs", s->media, j->session)) ||
	    (rc = util_mkdir_p(path, 0755)) || (rc = store_index_path(s, j->id, index)) ||
	    (rc = store_record_path(s, j->session, j->id, path)))
		return rc;
	if ((rc = store_write_index(s, j)))
		return rc;
	if ((rc = store_write_record(s, j)) == 0)
		return 0;
	/* the rename may have happened before a later sync failed */
	if (unlink_missing_ok(path) | unlink_missing_ok(index))
		log_error("job %s: its record could not be written (%s), nor its files "
			  "removed; the next mount decides", j->id, strerror(-rc));
	return rc;
}

int store_each_index(const struct store *s, void (*fn)(void *ctx, const char *jid), void *ctx)
{
	char path[STORE_PATH_MAX], jid[JOB_ID_LEN + 1];
	struct dirent *e;
	DIR *d;

	if (util_fmt(path, sizeof(path), "%s/jobs_index", s->media))
		return -ENAMETOOLONG;
	if (!(d = opendir(path)))
		return -errno;
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
	char path[STORE_PATH_MAX], *text = NULL, *p, *q;
	size_t len;
	int rc;

	if ((rc = store_index_path(s, jid, path)) ||
	    (rc = util_read_file_alloc(path, 4096, &text, &len)))
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

int store_file_mtime(const char *path, util_ms *out)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	*out = (util_ms)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return 0;
}

static int unlink_missing_ok(const char *path)
{
	return unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR ? -errno : 0;
}

/* The session's final_mix.wav is this job's output when it is the same
 * inode (how it is published) or, from an older writer, identical bytes. */
static int final_is_output(const char *final, const char *output)
{
	struct stat a, b;
	FILE *fa, *fb;
	int same = 1;

	if (stat(final, &a) < 0 || stat(output, &b) < 0)
		return 0;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return 1;
	if (a.st_size != b.st_size)
		return 0;
	fa = fopen(final, "rb");
	fb = fopen(output, "rb");
	while (fa && fb && same) {
		char x[65536], y[65536];
		size_t nx = fread(x, 1, sizeof(x), fa), ny = fread(y, 1, sizeof(y), fb);

		same = nx == ny && memcmp(x, y, nx) == 0;
		if (nx == 0)
			break;
	}
	if (!fa || !fb)
		same = 0;
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

int store_delete_job(const struct store *s, const struct job *j, int with_output)
{
	char out[STORE_PATH_MAX], final[STORE_PATH_MAX], path[STORE_PATH_MAX];
	int rc;

	if ((rc = store_output_path(s, j->session, j->id, out)) ||
	    (rc = store_final_mix_path(s, j->session, final)))
		return rc;
	if (with_output && final_is_output(final, out) && (rc = unlink_missing_ok(final)))
		return rc;
	/* the job's own mix, named by its id: only this job ever writes it (a
	 * failed job may have left one behind) */
	if ((rc = unlink_missing_ok(out)))
		return rc;
	if ((rc = store_index_path(s, j->id, path)) || (rc = unlink_missing_ok(path)))
		return rc;
	if ((rc = store_record_path(s, j->session, j->id, path)) ||
	    (rc = unlink_missing_ok(path)))
		return rc;
	return util_fsync_parent(path);
}

static int is_temp_name(const char *name)
{
	return name[0] == '.' && strstr(name, ".tmp.") != NULL;
}

static int has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n > k && strcmp(name + n - k, suffix) == 0;
}

/* Remove temp files a crash left in @dir (never anything else). */
static void sweep_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[STORE_PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!is_temp_name(e->d_name) ||
		    util_fmt(path, sizeof(path), "%s/%s", dir, e->d_name))
			continue;
		if (unlink(path) == 0)
			log_info("removed %s, left by an interrupted write", path);
	}
	closedir(d);
}

/* The job id a record's file name carries, if it carries one. */
static const char *name_jid(const char *name, char jid[JOB_ID_LEN + 1])
{
	if (strlen(name) < JOB_ID_LEN + 5 || strncmp(name + JOB_ID_LEN, ".json", 5))
		return NULL;
	memcpy(jid, name, JOB_ID_LEN);
	jid[JOB_ID_LEN] = '\0';
	return job_id_valid(jid) ? jid : NULL;
}

static void load_corrupt(const struct store_visitor *v, const char *sid, const char *name,
			 const char *path, const char *why)
{
	char jid[JOB_ID_LEN + 1];
	char aside[STORE_PATH_MAX];
	struct stat st;

	if (util_fmt(aside, sizeof(aside), "%s.corrupt", path) || rename(path, aside) < 0) {
		log_error("%s: unreadable record (%s) and cannot move it aside: %s",
			  path, why, strerror(errno));
		return;
	}
	log_error("%s: unreadable record (%s); moved to %s", path, why, aside);
	if (stat(aside, &st) == 0)
		v->corrupt(v->ctx, sid, name_jid(name, jid), aside, (util_ms)st.st_mtime * 1000, why);
}

static void load_record(const struct store_visitor *v, const char *sid,
			const char *dir, const char *name)
{
	char path[STORE_PATH_MAX], err[256];
	char *text = NULL;
	size_t len;
	struct job j;
	int rc;

	if (util_fmt(path, sizeof(path), "%s/%s", dir, name))
		return;
	rc = util_read_file_alloc(path, JOB_JSON_MAX, &text, &len);
	if (rc) {
		log_error("%s: cannot read: %s", path, strerror(-rc));
		return;
	}
	rc = job_from_json(text, &j, err, sizeof(err));
	free(text);
	if (!rc && (strcmp(j.session, sid) != 0 ||
		    strncmp(name, j.id, JOB_ID_LEN) != 0 || strlen(name) != JOB_ID_LEN + 5)) {
		snprintf(err, sizeof(err), "its job_id or session_id does not match its path");
		job_clear(&j);
		rc = -EINVAL;
	}
	if (rc) {
		load_corrupt(v, sid, name, path, err);
		return;
	}
	v->record(v->ctx, &j);
}

static void load_session(const struct store *s, const struct store_visitor *v, const char *sid)
{
	char dir[STORE_PATH_MAX], path[STORE_PATH_MAX], jid[JOB_ID_LEN + 1];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (util_fmt(dir, sizeof(dir), "%s/%s/jobs", s->media, sid) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		if (is_temp_name(e->d_name) &&
		    !util_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) && unlink(path) == 0)
			log_info("removed %s, left by an interrupted write", path);
		else if (e->d_name[0] != '.' && has_suffix(e->d_name, ".json"))
			load_record(v, sid, dir, e->d_name);
		else if (has_suffix(e->d_name, ".json.corrupt") &&
			 !util_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) &&
			 stat(path, &st) == 0)
			v->corrupt(v->ctx, sid, name_jid(e->d_name, jid), path,
				   (util_ms)st.st_mtime * 1000, "found at start");
	}
	closedir(d);
	if (!util_fmt(dir, sizeof(dir), "%s/%s/jobs", s->outputs, sid))
		sweep_temps(dir);
	if (!util_fmt(dir, sizeof(dir), "%s/%s", s->outputs, sid))
		sweep_temps(dir);
}

int store_load(const struct store *s, const struct store_visitor *v)
{
	char path[STORE_PATH_MAX];
	DIR *d = opendir(s->media);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (util_valid_session_id(e->d_name))
			load_session(s, v, e->d_name);
	closedir(d);
	if (!util_fmt(path, sizeof(path), "%s/jobs_index", s->media))
		sweep_temps(path);
	return 0;
}

int store_session_create(const struct store *s, const char *sid, uid_t uid, gid_t gid)
{
	static const char *const subdirs[] = { "", "/stems", "/jobs" };
	char path[STORE_PATH_MAX];

	if (!util_valid_session_id(sid))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(*subdirs); i++) {
		if (util_fmt(path, sizeof(path), "%s/%s%s", s->media, sid, subdirs[i]))
			return -ENAMETOOLONG;
		if (mkdir(path, 0755) < 0 && (i == 0 || errno != EEXIST))
			return -errno;
		if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0)
			return -errno;
	}
	return util_fsync_parent(path);
}

int store_session_owner(const struct store *s, const char *sid, uid_t *uid)
{
	char path[STORE_PATH_MAX];
	struct stat st;

	if (!util_valid_session_id(sid) || store_session_path(s, sid, path))
		return -ENOENT;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOENT;
	*uid = st.st_uid;
	return 0;
}

int store_discard_output(const struct store *s, const char *sid, const char *jid)
{
	char path[STORE_PATH_MAX];
	int rc;

	if ((rc = store_output_path(s, sid, jid, path)))
		return rc;
	return unlink_missing_ok(path);
}

int store_output_dir(const struct store *s, const char *sid)
{
	char path[STORE_PATH_MAX];

	if (util_fmt(path, sizeof(path), "%s/%s/jobs", s->outputs, sid))
		return -ENAMETOOLONG;
	return util_mkdir_p(path, 0755);
}

int store_publish_final(const struct store *s, const char *sid, const char *jid)
{
	char out[STORE_PATH_MAX], final[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
	int rc;

	if ((rc = store_output_path(s, sid, jid, out)) ||
	    (rc = store_final_mix_path(s, sid, final)) ||
	    (rc = util_fmt(tmp, sizeof(tmp), "%s/%s/.final_mix.tmp.%s", s->outputs, sid, jid)))
		return rc;
	unlink(tmp);
	if (link(out, tmp) < 0)
		return -errno;
	if (rename(tmp, final) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	return util_fsync_parent(final);
}
