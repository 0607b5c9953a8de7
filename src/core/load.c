/*
 * load.c - reading the store at open (store_load in store.h): every record
 * under every session, unreadable ones moved aside, temp files a crash left
 * swept from the jobs and outputs folders.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixfs/log.h"
#include "mixfs/store.h"
#include "store_impl.h"

static int is_temp_name(const char *name)
{
	return name[0] == '.' && strstr(name, ".tmp.") != NULL;
}

static int has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n > k && strcmp(name + n - k, suffix) == 0;
}

/* Remove temp files a crash left in the folder @rel beneath @root. */
static void sweep_temps(const struct store *s, enum store_root root, const char *rel)
{
	struct dirent *e;
	int rc;
	DIR *d = store_dir_stream(s, root, rel, &rc);

	if (!d)
		return;
	while ((e = readdir(d)))
		if (is_temp_name(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_info("removed %s/%s, left by an interrupted write", rel, e->d_name);
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

static void corrupt_found(const struct store_visitor *v, int dfd, const char *sid,
			  const char *name, const char *why)
{
	char jid[JOB_ID_LEN + 1], rel[STORE_PATH_MAX];
	struct stat st;

	if (!util_fmt(rel, sizeof(rel), "%s/jobs/%s", sid, name) &&
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		v->corrupt(v->ctx, sid, name_jid(name, jid), rel, (util_ms)st.st_mtime * 1000, why);
}

static void load_corrupt(const struct store_visitor *v, int dfd, const char *sid,
			 const char *name, const char *why)
{
	char aside[300];

	if (util_fmt(aside, sizeof(aside), "%s.corrupt", name) ||
	    renameat(dfd, name, dfd, aside) < 0) {
		log_error("%s/%s/jobs/%s: unreadable record (%s) and cannot move it aside: %s",
			  "MEDIA_DIR", sid, name, why, strerror(errno));
		return;
	}
	log_error("%s/jobs/%s: unreadable record (%s); moved to %s", sid, name, why, aside);
	corrupt_found(v, dfd, sid, aside, why);
}

static void load_record(const struct store_visitor *v, int dfd, const char *sid,
			const char *name)
{
	char err[256];
	char *text = NULL;
	size_t len;
	struct job j;
	int rc;

	rc = util_read_file_at(dfd, name, JOB_JSON_MAX, &text, &len);
	if (rc == -ELOOP || rc == -EINVAL) {
		load_corrupt(v, dfd, sid, name, rc == -ELOOP ? "a symlink" : "not a regular file");
		return;
	}
	if (rc) {
		log_error("%s/jobs/%s: cannot read: %s", sid, name, strerror(-rc));
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
		load_corrupt(v, dfd, sid, name, err);
		return;
	}
	v->record(v->ctx, &j);
}

static void load_session(const struct store *s, const struct store_visitor *v, const char *sid)
{
	char rel[STORE_PATH_MAX];
	struct dirent *e;
	int fd, rc = 0;
	DIR *d = NULL;

	if (!util_fmt(rel, sizeof(rel), "%s/jobs", sid))
		d = store_dir_stream(s, STORE_MEDIA, rel, &rc);
	if (!d) {
		if (rc && rc != -ENOENT)
			log_error("%s/%s/jobs: not loaded: %s", s->media, sid,
				  rc == -ELOOP || rc == -EXDEV ? "a symlink is in the way"
							       : strerror(-rc));
		return;
	}
	fd = dirfd(d);
	while ((e = readdir(d))) {
		if (is_temp_name(e->d_name) && unlinkat(fd, e->d_name, 0) == 0)
			log_info("removed %s/jobs/%s, left by an interrupted write", sid, e->d_name);
		else if (e->d_name[0] != '.' && has_suffix(e->d_name, ".json"))
			load_record(v, fd, sid, e->d_name);
		else if (has_suffix(e->d_name, ".json.corrupt"))
			corrupt_found(v, fd, sid, e->d_name, "found at start");
	}
	closedir(d);
	sweep_temps(s, STORE_OUTPUTS, rel); /* the same SID/jobs, in the outputs */
	sweep_temps(s, STORE_OUTPUTS, sid);
}

int store_load(const struct store *s, const struct store_visitor *v)
{
	struct dirent *e;
	int rc = 0;
	DIR *d = store_dir_stream(s, STORE_MEDIA, "", &rc);

	if (!d)
		return rc;
	while ((e = readdir(d)))
		if (util_valid_session_id(e->d_name))
			load_session(s, v, e->d_name);
	closedir(d);
	sweep_temps(s, STORE_MEDIA, "jobs_index");
	return 0;
}
