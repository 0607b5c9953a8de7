/*
 * pgstore.h - job records as rows in PostgreSQL (SPEC section 9), for
 * several hosts sharing one queue. Stems and outputs stay files (store.h);
 * this module holds only the records, and knows nothing of the cache or
 * the tree above it.
 *
 * The schema is ours: created and upgraded at pgs_open() under an
 * advisory lock, with its version in mixfs_meta.
 *
 *   mixfs_jobs(job_id uuid PK, session_id, state, created_at, expires_at,
 *              attempts, host, lease_until, cancel_requested, rev,
 *              changed_at, record)      record: the job as JSON (SPEC 3)
 *   mixfs_gone(job_id uuid PK, session_id, gone_at)   deletions, for an
 *              hour, so other hosts learn of them
 *
 * Every change to a row bumps its `rev` and `changed_at` and notifies
 * channel "mixfs" (payload: the job id; a wake-up, never the truth). A
 * write names the rev it changes: one that lost a race changes nothing and
 * gets -ESTALE. A worker's write is fenced by its lease too: it also needs
 * the row still to be its host's with `lease_until` ahead of the
 * database's clock, and it renews the lease. All times that decide
 * (leases, expiry) are the database's.
 *
 * One connection carries every statement (a mutex serialises them); the
 * listener has its own, used only by the thread calling pgs_wait(). A lost
 * connection makes statements fail with -EIO (with one log line naming
 * the database) and is tried again at most once a second.
 *
 * Functions return 0 or a negative errno: -EIO (the database is
 * unreachable), -EPROTO (it refused a statement; logged), -ESTALE
 * (fenced), -ENOMEM.
 */
#ifndef MIXFS_PGSTORE_H
#define MIXFS_PGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mixfs/job.h"

#define PGS_SCHEMA_VERSION 1

struct pgs;

/* One row: the record and what only the row knows. */
struct pgs_row {
	struct job job;		/* owned: job_clear() it */
	int64_t rev;
	bool cancel_requested;
};

/*
 * Connect to @conninfo (a libpq URI or key=value string) as host @host,
 * create or upgrade the schema, and take the host's lock (an advisory
 * lock held by the connection): a second daemon with the same host name
 * gets -EBUSY, with what holds it in @err. @lease_s is the lease a write
 * or a renewal gives. On failure @err names the problem.
 */
int pgs_open(struct pgs **out, const char *conninfo, const char *host, double lease_s,
	     char *err, size_t errlen);
void pgs_close(struct pgs *p);
/* The host name and a short description of the database for messages. */
const char *pgs_host(const struct pgs *p);
const char *pgs_where(const struct pgs *p);
/* The database's clock minus ours, in ms, as last measured. */
util_ms pgs_clock_offset(const struct pgs *p);

/*
 * Insert a new job. With @cap > 0 the insert and the count of the
 * session's rows hold a per-session lock, so the cap holds across hosts
 * under racing drops: -EDQUOT when the session has @cap rows already.
 * *@rev is the new row's rev.
 */
int pgs_insert(struct pgs *p, const struct job *j, unsigned cap, int64_t *rev);

/*
 * Write @j over the row at rev @rev. With @leased it is the running
 * host's write: the row must be this host's with its lease unexpired, and
 * the lease is renewed while the job stays active. *@new_rev and
 * *@cancel (may be NULL) get the row's new rev and cancel flag.
 */
int pgs_update(struct pgs *p, const struct job *j, int64_t rev, bool leased, int64_t *new_rev,
	       bool *cancel);

/* How a claim or a requeue changes a record (called with the row locked;
 * it must not call back into this module). 0 or -errno (then nothing
 * changes). */
typedef int (*pgs_edit_fn)(void *ctx, struct job *j);

/* Claim the oldest queued job (created_at, then job_id) for this host:
 * @edit makes its running record; the row gets this host and a lease.
 * -ENOENT when nothing is queued (or all queued rows are being claimed). */
int pgs_claim(struct pgs *p, pgs_edit_fn edit, void *ctx, struct pgs_row *out);

/* Requeue (through @edit) active jobs whose lease ran out by the
 * database's clock, or, with @own, every active job of this host (its
 * previous life, at mount: the host lock proves it is not running them).
 * *@n counts the rows changed. */
int pgs_requeue(struct pgs *p, bool own, pgs_edit_fn edit, void *ctx, size_t *n);

/* Renew the leases of the @n jobs @jids this host runs (a job it no
 * longer runs must not keep one). @held hears each job still held, with
 * its cancel flag; a job it does not hear of is no longer ours. */
int pgs_renew(struct pgs *p, const char (*jids)[JOB_ID_LEN + 1], size_t n,
	      void (*held)(void *ctx, const char *jid, bool cancel), void *ctx);

/* Ask the host running @jid to cancel it. -ENOENT if it is not active. */
int pgs_request_cancel(struct pgs *p, const char *jid);

/*
 * Delete rows with their files: every row expired by the database's clock
 * (@jid NULL), or the one final job @jid (-ENOENT if it is not final or
 * not there). Each row is locked first (SKIP LOCKED: two hosts never take
 * the same), @drop deletes its files, and the row goes only if that
 * succeeded; @gone hears each deleted id once it is committed. *@n counts
 * them. A row whose record does not parse is deleted by its columns.
 */
struct pgs_delete {
	int (*drop)(void *ctx, const struct job *j);
	void (*gone)(void *ctx, const char *sid, const char *jid);
	void *ctx;
};
int pgs_delete(struct pgs *p, const char *jid, const struct pgs_delete *d, size_t *n);

/* One row, by id. -ENOENT if it is not there. */
int pgs_get(struct pgs *p, const char *jid, struct pgs_row *out);

/*
 * Read what changed: every row and deletion since the last call (all rows
 * when @full or on the first call). @row takes ownership of the row's job;
 * @gone hears deleted ids. Rows whose record does not parse are logged and
 * skipped. The window overlaps the previous one by a few seconds, so a
 * row committed late is not missed; callers skip revs they have.
 */
struct pgs_sink {
	/* may be NULL: false skips the row unread (a rev the caller has) */
	bool (*want)(void *ctx, const char *jid, int64_t rev);
	void (*row)(void *ctx, struct pgs_row *r);
	void (*gone)(void *ctx, const char *sid, const char *jid);
	void *ctx;
};
int pgs_changes(struct pgs *p, bool full, const struct pgs_sink *s);

/*
 * Wait up to @timeout_ms for a notification on the listener connection,
 * connecting it first when needed. Returns 1 when woken, 0 on timeout,
 * 2 when the listener (re)connected (anything may have been missed: read
 * everything), -EIO when the database is unreachable (after waiting).
 */
int pgs_wait(struct pgs *p, int timeout_ms);

/* Copy a record from a file store (mixfs migrate): inserted as it is,
 * unless a row with its id is there already (*@inserted false). An active
 * job gets no lease, so the first host to look requeues it. */
int pgs_import(struct pgs *p, const struct job *j, bool *inserted);

/* Count of statements sent, for the benchmark. */
uint64_t pgs_statements(const struct pgs *p);

#endif
