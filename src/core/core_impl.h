/*
 * core_impl.h - what core.c and workers.c share; not part of the contract.
 *
 * Locks, always taken in this order:
 *   io_lock  serialises every change to a record, from the copy it starts
 *            from to the cache commit, so disk order is memory order. Held
 *            across fsync; never needed by readers.
 *   lock     protects the cache (every field marked below); held briefly,
 *            never across I/O.
 */
#ifndef MIXFS_CORE_IMPL_H
#define MIXFS_CORE_IMPL_H

#include <pthread.h>

#include "mixfs/core.h"
#include "mixfs/hmap.h"

/* A job that has started this many times and is found interrupted again
 * fails "interrupted" (SPEC 1; with a database, SPEC 9). */
#define CORE_MAX_ATTEMPTS 3

struct csession;

struct cjob {
	struct job rec;		/* protected by lock; changed under io_lock too */
	struct csession *sess;	/* protected by lock */
	size_t sess_pos;	/* protected by lock: index in sess->jobs */
	size_t heap_pos;	/* protected by lock: in core->expiry */
	struct cjob *qnext;	/* protected by lock: the run queue */
	bool in_queue;		/* protected by lock */
	bool cancel;		/* protected by lock: asked to stop */
	bool running;		/* protected by lock: a worker has it; cleared in
				 * the same critical section that makes the job
				 * final (core_commit, core_strand), after which
				 * the worker never touches it again */
	bool indexed;		/* at open only: its index file was found */
	/* with a database: the row's rev this record is (protected by lock;
	 * changed under io_lock), and, for a job this host runs, whether the
	 * lease is lost (someone else changed the row) and until when (the
	 * monotonic clock) the lease surely holds; protected by lock */
	int64_t rev;
	bool lost;
	util_ms lease_mono;
	/* protected by lock: the final record a worker could not write (full
	 * disk, folder moved away). Until it is written the job shows what the
	 * disk holds; the housekeeper, a cancel and a delete retry it. */
	struct job *pending;
	util_ms pending_logged_at;	/* protected by io_lock */
};

/* The newest job submitted under a name in requests/: its receipt. */
struct creceipt {
	char *name;		/* owned; the map's key */
	struct cjob *cj;
};

struct csession {
	char name[JOB_SESSION_MAX + 1];
	struct cjob **jobs;	/* protected by lock: oldest first */
	size_t n, cap;
	struct hmap receipts;	/* protected by lock: request name -> creceipt */
};

/* A file left by a record that is unreadable or gone (the moved-aside
 * record itself, its index file, its output), deleted once @expiry passes. */
struct core_leftover {
	enum store_root root;
	char *rel;		/* owned: its name beneath @root */
	util_ms expiry;
};

struct core_event_rec {
	enum core_event ev;
	char sid[JOB_SESSION_MAX + 1];
	char jid[JOB_ID_LEN + 1];
};

/* Events gathered under the lock and told to the listener after it. */
struct core_events {
	struct core_event_rec *v;
	size_t n, cap;
};

/*
 * Where records live: files beneath MEDIA_DIR (records.c) or rows in
 * PostgreSQL (cluster.c). The cache, the queue and the workers are the
 * same above either. Callers hold io_lock.
 */
struct core_records {
	/* Write a new job, the submit's commit point; *@rev its first rev.
	 * -EDQUOT when its session holds max_jobs_per_session jobs. */
	int (*insert)(struct core *c, const struct job *j, int64_t *rev);
	/* Write @next over @cj's record; *@rev its new rev. -ESTALE when the
	 * record changed elsewhere (a database row fenced by its rev). */
	int (*update)(struct core *c, struct cjob *cj, const struct job *next, int64_t *rev);
	/* The cleanup pass at @now: delete what expired, tell @ev; the count. */
	int (*expire)(struct core *c, util_ms now, struct core_events *ev);
	/* Delete final @cj's record and files now (not the cache entry). */
	int (*remove)(struct core *c, struct cjob *cj);
};

extern const struct core_records core_file_records;
extern const struct core_records core_pg_records;

struct pgs;

/* A worker thread, and the job it runs: what a host renews the leases of
 * (cluster.c) without looking through every job. */
struct core_worker {
	pthread_t id;
	struct core *c;
	core_jid job;		/* protected by lock: "" when idle */
};

struct core {
	struct core_config cfg;
	struct store store;
	const struct core_records *records;
	struct pgs *pg;			/* with a database, else NULL */
	unsigned queue_gen;		/* protected by lock: bumped when the queue
					 * grows, so a worker whose claim found
					 * nothing waits for news */
	pthread_t syncer;		/* with a database: follows its changes */
	bool syncer_started;
	util_ms lease_ok_mono;		/* protected by lock: the leases of this
					 * host hold until then, as last renewed */
	pthread_mutex_t io_lock;
	pthread_mutex_t lock;
	pthread_cond_t work_cond;	/* with lock: the queue grew, or stopping;
					 * only workers wait on it */
	pthread_cond_t hk_cond;		/* with lock, CLOCK_MONOTONIC: stopping, or
					 * a job was stranded; only the housekeeper
					 * thread waits on it */
	struct hmap jobs;		/* protected by lock: id -> cjob */
	struct hmap sessions;		/* protected by lock: name -> csession */
	struct cleanup_heap expiry;	/* protected by lock: final jobs */
	struct cjob *q_head, *q_tail;	/* protected by lock: oldest first */
	struct core_leftover *leftover;	/* protected by io_lock */
	size_t n_leftover, cap_leftover;
	util_ms last_cleanup_at;	/* protected by lock */
	int last_cleanup_count;		/* protected by lock */
	unsigned busy;			/* protected by lock: workers running a job */
	struct cjob **stranded;		/* protected by lock: jobs with a pending */
	size_t n_stranded, cap_stranded;
	bool stopping;			/* protected by lock */
	struct core_worker *threads;	/* cfg.workers of them */
	unsigned n_threads;
	pthread_t housekeeper;
	bool housekeeper_started;
	core_listener_fn listener;
	void *listener_ctx;
};

/* cache.c: the cache. Callers hold lock unless said otherwise. */

/* The session named @sid, made when @create; NULL if none (or ENOMEM). */
struct csession *core_session_get(struct core *c, const char *sid, bool create);
/* Insert a new job, taking @j's strings; 0 or -ENOMEM (then @j is kept).
 * While @loading, sessions are left unsorted (the load sorts them). */
int core_cache_insert(struct core *c, struct job *j, util_ms now, bool loading,
		      struct cjob **out);
/* Remove and free a job: from the heap, the queue, its session, its receipt. */
void core_cache_remove(struct core *c, struct cjob *cj);
/* qsort order of jobs: oldest first, then by id. */
int core_by_created(const void *a, const void *b);

void core_events_add(struct core_events *e, enum core_event ev, const struct job *j);
void core_events_fire(struct core *c, struct core_events *e);

/* Commit @next as @cj's record: write it to disk, then swap it into the
 * cache (taking ownership of @next's strings on success). Caller holds
 * io_lock but not lock. Returns 0 or the store's negative errno. */
int core_commit(struct core *c, struct cjob *cj, struct job *next);

/* A copy of @cj's record to change and commit. Caller holds io_lock. */
int core_snapshot(struct core *c, struct cjob *cj, struct job *out);

/* Expiry queue insertion for a job that just became final. Caller holds lock. */
void core_track_final(struct core *c, struct cjob *cj, util_ms now);

void core_queue_push(struct core *c, struct cjob *cj);
struct cjob *core_queue_pop(struct core *c);
void core_queue_remove(struct core *c, struct cjob *cj);

/* A worker could not write @next, its job's final record: keep it as the
 * job's pending record (taking @next's strings) for the housekeeper to
 * retry. The cache keeps showing what the disk holds. Caller holds no lock. */
void core_strand(struct core *c, struct cjob *cj, struct job *next);

/* Try again to write the pending records: @cj's alone, or every stranded
 * job's when @cj is NULL. Returns 0 when none is left pending (of @cj, or
 * of all), else the last write's negative errno. Caller holds io_lock;
 * events go to @ev. */
int core_retry_stranded(struct core *c, struct cjob *cj, util_ms now, struct core_events *ev);

/* check.c: in test builds (MIXFS_CHECK), abort naming the first invariant
 * the cache, its sessions and receipts, the run queue, the expiry heap and
 * the pending records break against each other; else nothing. Caller
 * holds io_lock (so no pass is halfway) but not lock. */
void core_check(struct core *c);

/* records.c: the file store's cleanup pass, for core_file_records. */
int core_file_expire(struct core *c, util_ms now, struct core_events *ev);

/* cluster.c, with a database. */
/* Connect, load every row into the cache, requeue this host's jobs a
 * crash left active. */
int cluster_open(struct core *c, util_ms now, char *err, size_t errlen);
void cluster_close(struct core *c);
int cluster_start(struct core *c);
void cluster_stop(struct core *c);
/* The oldest queued job of the cluster, claimed for this host and marked
 * running in the cache; NULL when there is none (or the database is
 * unreachable). Caller holds no lock. */
struct cjob *cluster_claim(struct core *c);
/* Re-read @cj's row into the cache (after a write was fenced). Caller
 * holds io_lock. */
void cluster_refresh(struct core *c, struct cjob *cj, struct core_events *ev);
/* Ask whoever runs @cj to stop it. Caller holds io_lock. */
int cluster_cancel_remote(struct core *c, struct cjob *cj);
/* The clock records are written with: the database's, as last measured,
 * with a database; ours without. */
util_ms core_clock(const struct core *c);

/* workers.c */
/* Append "TIME LINE" to a job's log (a record being prepared); on ENOMEM
 * the line is logged as lost. */
void core_log_append(struct job *j, util_ms now, const char *line);
int core_workers_start(struct core *c);
void core_workers_stop(struct core *c);

#endif
