/*
 * core.h - the job manager: the one owner of live jobs. It loads every
 * record at open, accepts requests (submit), cancels and deletes jobs,
 * runs the cleanup pass, and runs jobs on its worker threads through the
 * audio engine. Everything above it (the FUSE tree, the CLI) reaches jobs
 * only through this header, and only by copies: no pointer into the cache
 * ever leaves it.
 *
 * Ordering rule: the record on disk changes before the cache does, so a
 * state read from the tree is always on disk already.
 *
 * Functions that act "at @now" take the time as an argument; only the
 * workers read the clock themselves.
 */
#ifndef MIXFS_CORE_H
#define MIXFS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "mixfs/cleanup.h"
#include "mixfs/job.h"
#include "mixfs/store.h"

#define CORE_WORKERS_MAX 64

struct core_config {
	const char *media_dir;
	const char *outputs_dir;
	struct cleanup_ttls ttls;
	unsigned max_jobs_per_session;	/* 0 = no limit */
	unsigned workers;		/* 0 = jobs stay queued (tests); at most
					 * CORE_WORKERS_MAX */
	double cleanup_interval_s;	/* 0 = only on enqueue and at open */
	/* SPEC 9: with @database (a libpq conninfo) records are rows shared
	 * by several hosts; NULL = the file store */
	const char *database;
	const char *host;		/* this host's name in the cluster */
	double lease_s;			/* a silent host loses its jobs after this */
};

enum core_event {
	CORE_EV_CREATED,	/* a new job */
	CORE_EV_CHANGED,	/* state, progress or record changed */
	CORE_EV_DELETED,	/* gone: expired or removed */
};

/* Told of every change, from the thread that made it, with no core lock
 * held. It must not block; the FUSE layer queues kernel notifications. */
typedef void (*core_listener_fn)(void *ctx, enum core_event ev,
				 const char *sid, const char *jid);

struct core;

/*
 * Open MEDIA_DIR: take its lock, load every record into the cache, requeue
 * jobs a crash left active (or fail them "interrupted" after 3 starts), and
 * run the cleanup pass. Workers are not started yet. On failure @err names
 * the problem and nothing is held.
 */
int core_open(struct core **out, const struct core_config *cfg, util_ms now,
	      char *err, size_t errlen);
void core_set_listener(struct core *c, core_listener_fn fn, void *ctx);
/* Start the workers (and the interval cleaner). Returns 0 or -errno. */
int core_start(struct core *c);
/* Stop the workers, interrupting running jobs and leaving them queued on
 * disk. The listener hears those last changes; after this returns it hears
 * nothing more. Safe to call twice. */
void core_stop(struct core *c);
/* core_stop(), then release the lock and free everything. */
void core_close(struct core *c);

/* The cleanup pass at @now. Returns the number of jobs deleted. */
int core_cleanup(struct core *c, util_ms now);

/* A request as dropped: the text of requests/@name in session @sid, from
 * @uid. The strings are the caller's. */
struct core_request {
	const char *sid;
	const char *name;
	const char *text;
	size_t len;
	long uid;
};

/*
 * Submit @rq at @now. Runs the cleanup pass first. Returns:
 *   0        a queued job; its id in @jid
 *   -EINVAL  the request is invalid: an error job holds the text, its id is
 *            in @jid and the message in @err
 *   -EDQUOT  the session holds max_jobs_per_session jobs; nothing created
 *   -ENOENT  no such session
 *   other    a negative errno from the store; nothing created
 */
int core_submit(struct core *c, const struct core_request *rq, util_ms now,
		char jid[JOB_ID_LEN + 1], char *err, size_t errlen);

/* Cancel: a queued job fails "cancelled" at once, a running one within a
 * second, a final one is left alone (0). A job whose run ended but whose
 * final record could not be written (a full disk) cannot be cancelled: the
 * write is tried again, and its error returned if it still fails.
 * -EACCES unless @uid is 0 or the job's owner; -ENOENT for an unknown job. */
int core_cancel(struct core *c, const char *jid, long uid, util_ms now);

/* Delete a final job now (its files as the cleanup pass would).
 * -EBUSY when active (also while its final record waits to be written),
 * -EACCES as for cancel, -ENOENT when unknown. */
int core_delete(struct core *c, const char *jid, long uid);

/* A deep copy of a job's record (job_clear() it). -ENOENT when unknown. */
int core_job_get(struct core *c, const char *jid, struct job *out);

/* Cheap reads for hot paths. -ENOENT when unknown. */
int core_job_state(struct core *c, const char *jid, enum job_state *state,
		   int *progress, char sid[JOB_SESSION_MAX + 1]);

/* What a directory entry needs to know of a job, without copying it. */
struct core_job_brief {
	enum job_state state;
	int progress;
	char sid[JOB_SESSION_MAX + 1];
	long owner_uid;
	util_ms created_at;
	util_ms updated_at;
};
int core_job_brief(struct core *c, const char *jid, struct core_job_brief *out);

/* Ids of a session's jobs, oldest first, as one malloc'd array of
 * JOB_ID_LEN+1 strings the caller frees. -ENOENT for an unknown session. */
typedef char core_jid[JOB_ID_LEN + 1];
int core_session_jobs(struct core *c, const char *sid, core_jid **ids, size_t *n);

/* The newest job of the session in @jid; -ENOENT if it has none. */
int core_session_latest(struct core *c, const char *sid, char jid[JOB_ID_LEN + 1]);

/* The receipt for requests/@name: the newest live job submitted under that
 * name. -ENOENT if none. */
int core_receipt(struct core *c, const char *sid, const char *name,
		 char jid[JOB_ID_LEN + 1]);
/* Names with a receipt in the session, one malloc'd array of malloc'd
 * strings (free each, then the array). */
int core_receipt_names(struct core *c, const char *sid, char ***names, size_t *n);

/* Sessions: folders of MEDIA_DIR with a valid name. */
int core_session_create(struct core *c, const char *sid, uid_t uid, gid_t gid);
int core_session_owner(struct core *c, const char *sid, uid_t *uid);
/* Session names, malloc'd array of malloc'd strings. */
int core_session_list(struct core *c, char ***names, size_t *n);

/* Paths for nodes the tree passes through to disk. */
const struct store *core_store(struct core *c);

/*
 * mixfs migrate: copy every record of the file store in @media into the
 * database @conninfo (SPEC 9), once: rows already there are left as they
 * are. Reports on @out what it moved and what it could not. Returns 0
 * when everything moved, 1 when some records did not (corrupt ones, or
 * refused), or a negative errno when it could not start.
 */
int core_migrate(const char *media, const char *conninfo, FILE *out);

/* "key: value" lines for /stats, malloc'd. */
char *core_stats_text(struct core *c);

#endif
