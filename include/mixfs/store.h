/*
 * store.h - records on disk (SPEC section 2), the source of truth.
 *
 *   MEDIA_DIR/<sid>/stems/                 the session's input audio
 *   MEDIA_DIR/<sid>/jobs/<jid>.json        one record per job
 *   MEDIA_DIR/jobs_index/<jid>.json        {"job_id":..., "session_id":...}
 *   OUTPUTS/<sid>/final_mix.wav            hard link of the newest complete mix
 *   OUTPUTS/<sid>/jobs/<jid>.wav           each complete job's own mix
 *   MEDIA_DIR/.mixfs.lock                  held (fcntl) by the running daemon
 *
 * Every write is atomic (util_write_atomic_at). The store keeps no records
 * in memory and takes no locks of its own beyond the MEDIA_DIR lock:
 * callers serialise writes to one job.
 *
 * The daemon runs as root over folders its users can write. So MEDIA_DIR
 * and the outputs folder are opened once, at store_open(), and everything
 * below them is reached from those descriptors with util_open_beneath(): a
 * symlink anywhere under them (a session, its stems/ or jobs/, a record)
 * is refused, never followed. The path functions below give names for
 * messages and records, never for opening.
 */
#ifndef MIXFS_STORE_H
#define MIXFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mixfs/job.h"

#define STORE_PATH_MAX 4096

struct store {
	char media[STORE_PATH_MAX];
	char outputs[STORE_PATH_MAX];
	int lock_fd;
	int media_fd;		/* MEDIA_DIR, opened at store_open() */
	int outputs_fd;		/* the outputs folder, likewise */
};

/* The two folders everything is beneath. */
enum store_root { STORE_MEDIA, STORE_OUTPUTS };

/*
 * Open the store: check MEDIA_DIR is a writable folder, take its lock, and
 * make jobs_index/ and the outputs folder. A second daemon on the same
 * MEDIA_DIR gets -EBUSY with "held by pid N" in @err. On failure nothing is
 * held and @err names the problem.
 */
int store_open(struct store *s, const char *media, const char *outputs,
	       char *err, size_t errlen);
/* What mixfs migrate leaves in MEDIA_DIR: the database its records went
 * to. store_open() then refuses (-EBUSY, naming it). */
#define STORE_MOVED_MARK ".mixfs.database"
/* store_open() for mixfs migrate: the same lock, and a MEDIA_DIR already
 * moved is fine (a second run moves nothing twice). */
int store_open_migrate(struct store *s, const char *media, const char *outputs,
		       char *err, size_t errlen);
/* Leave the mark: @where names the database (no password in it). */
int store_mark_moved(const struct store *s, const char *where);
/* The same for a host of a cluster (SPEC 9): the records live in the
 * database, so MEDIA_DIR's lock is shared with the other hosts, and only
 * a single-host daemon is refused (-EBUSY). */
int store_open_shared(struct store *s, const char *media, const char *outputs,
		      char *err, size_t errlen);
/* Release the lock and the folders. */
void store_close(struct store *s);

/*
 * Write a new job: make the session's jobs/ if it has none, then its index
 * file, then its record (both atomic). The record's rename is the commit
 * point: on failure neither file is left, so a job whose submit failed
 * never runs; a crash between the two leaves only an index file, which
 * store_each_index() lets the next open find and remove.
 */
int store_write_job(const struct store *s, const struct job *j);
/* (Re)write a job's index file. */
int store_write_index(const struct store *s, const struct job *j);
/* Write a missing index file at open, without syncing each: the index is
 * derived from the records and repaired at every open, so one
 * store_sync_index() after the lot is enough (thousands of fsyncs are not
 * what a first mount of an older store should cost). */
int store_repair_index(const struct store *s, const struct job *j);
int store_sync_index(const struct store *s);
/* Call @fn for each index file's job id (names that are not job ids are
 * skipped). Returns 0 or a negative errno when jobs_index/ cannot be read. */
int store_each_index(const struct store *s, void (*fn)(void *ctx, const char *jid), void *ctx);
/* The session an index file names, into @sid. -ENOENT, -EINVAL if it is
 * not an index file's content. */
int store_index_session(const struct store *s, const char *jid, char sid[JOB_SESSION_MAX + 1]);
/* Files left behind by records that are unreadable or gone, named by
 * their path relative to @root ("SID/jobs/JID.wav"): their modification
 * time in ms, and their removal (a missing one is fine). -errno. */
int store_file_mtime(const struct store *s, enum store_root root, const char *rel,
		     util_ms *out);
int store_file_unlink(const struct store *s, enum store_root root, const char *rel);
/* Relative names of a job's index file and its own output. */
int store_index_rel(const char *jid, char *out);
int store_output_rel(const char *sid, const char *jid, char *out);
/* Write only the record (the index never changes after creation). */
int store_write_record(const struct store *s, const struct job *j);

/*
 * Delete an expired job's files, the record last so that a crash midway
 * leaves a record the next pass finds again: the session's final_mix.wav
 * when @with_output (a complete job) and it is the same file as the job's
 * output, the job's own output (any state: a failed job may have left
 * one), the index file, then the record. Missing files are fine.
 * Returns 0 or the first negative errno (the record is then kept).
 */
int store_delete_job(const struct store *s, const struct job *j, int with_output);

/* Called by store_load for each record read, and for each record moved
 * aside as corrupt (with @j NULL, @path its new name, @why the reason).
 * The callback takes ownership of *j's strings. */
struct store_visitor {
	void (*record)(void *ctx, struct job *j);
	/* @rel is its name beneath MEDIA_DIR; @jid is the job id its name
	 * carries, or NULL if it carries none */
	void (*corrupt)(void *ctx, const char *sid, const char *jid, const char *rel,
			util_ms mtime, const char *why);
	void *ctx;
};

/* Read every record under every session, moving unparseable ones aside
 * as "<jid>.json.corrupt", and remove temp files a crash left behind in
 * the jobs and outputs folders. Returns 0 or a negative errno when
 * MEDIA_DIR itself cannot be read. */
int store_load(const struct store *s, const struct store_visitor *v);

/* Paths for messages and records, written into @out (STORE_PATH_MAX).
 * Return 0 or -ENAMETOOLONG. */
int store_record_path(const struct store *s, const char *sid, const char *jid, char *out);
int store_index_path(const struct store *s, const char *jid, char *out);
int store_output_path(const struct store *s, const char *sid, const char *jid, char *out);
int store_final_mix_path(const struct store *s, const char *sid, char *out);
int store_session_path(const struct store *s, const char *sid, char *out);
int store_stems_path(const struct store *s, const char *sid, char *out);

/* Folders, opened as util_open_beneath() does: an fd the caller closes, or
 * -errno (-ELOOP or -EXDEV when a symlink is in the way, -ENOENT). The
 * session's stems/; OUTPUTS/<sid>/ or, with @jobs, OUTPUTS/<sid>/jobs/. */
int store_stems_dirfd(const struct store *s, const char *sid);
int store_output_dirfd(const struct store *s, const char *sid, bool jobs);

/* lstat of the session's folder: -ENOENT unless it is a real folder (not a
 * symlink) with a valid session name. */
int store_session_stat(const struct store *s, const char *sid, struct stat *out);

/* Make a session's folders, owned by @uid/@gid (unless -1). -EEXIST if the
 * session exists, -EINVAL for a bad name. */
int store_session_create(const struct store *s, const char *sid, uid_t uid, gid_t gid);
/* The session's owner (its folder's uid). -ENOENT if there is none. */
int store_session_owner(const struct store *s, const char *sid, uid_t *uid);
/* Remove a job's own output, one that no record will point to. */
int store_discard_output(const struct store *s, const char *sid, const char *jid);
/* With a database each attempt renders to OUTPUTS/<sid>/jobs/.<jid>.attemptN.wav
 * and publishes it by rename; a host killed mid-job leaves its attempt's
 * file (or that file's temp file). Remove them all. */
int store_sweep_attempts(const struct store *s, const char *sid, const char *jid);
/* Make OUTPUTS/<sid>/jobs/ (no symlink on the way). */
int store_output_dir(const struct store *s, const char *sid);
/* Publish @jid's output as the session's final_mix.wav (a hard link
 * renamed into place, atomically). */
int store_publish_final(const struct store *s, const char *sid, const char *jid);

#endif
