/*
 * cluster.c - records as rows in PostgreSQL, shared by several hosts
 * (SPEC section 9): core_pg_records, the claim a worker makes, and the
 * sync thread that keeps this host's cache the database's copy.
 *
 * The sync thread sleeps on the listener (a notification from any host
 * wakes it) for at most SYNC_MS, then: renews this host's leases when due,
 * requeues jobs whose lease ran out (any host may; the row lock makes one
 * of them do it), and reads the rows changed since its last read into the
 * cache. A lost notification so only delays a change by SYNC_MS.
 *
 * A job this host runs is the worker's alone: a row read with a newer rev
 * than the worker's means another host took it (the lease ran out), so the
 * run is stopped, never written, and the row is read again once the
 * worker lets go. The worker also stops on its own before its lease could
 * have run out when the database cannot be reached to renew it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"
#include "mixfs/log.h"
#include "mixfs/pgstore.h"

#define SYNC_MS 250
#define REQUEUE_MS 1000

util_ms core_clock(const struct core *c)
{
	return util_now_ms() + (c->pg ? pgs_clock_offset(c->pg) : 0);
}

static util_ms lease_ms(const struct core *c)
{
	return (util_ms)(c->cfg.lease_s * 1000.0);
}

/* ---- applying rows to the cache ---- */

struct apply_ctx {
	struct core *c;
	struct core_events *ev;
	util_ms now;
	bool loading;		/* no events (at open) */
};

/* A row this host has not cached yet. Caller holds lock. */
static void apply_new(struct apply_ctx *a, struct pgs_row *r)
{
	struct core *c = a->c;
	struct cjob *cj;

	/* rows come oldest first from a full read, so ordered insertion
	 * appends */
	if (core_cache_insert(c, &r->job, a->now, false, &cj)) {
		log_error("job %s: out of memory; not shown", r->job.id);
		job_clear(&r->job);
		return;
	}
	cj->rev = r->rev;
	cj->indexed = true;
	if (!a->loading)
		core_events_add(a->ev, CORE_EV_CREATED, &cj->rec);
	if (cj->rec.state == JOB_QUEUED)
		core_queue_push(c, cj);
}

static void apply_row(void *ctx, struct pgs_row *r)
{
	struct apply_ctx *a = ctx;
	struct core *c = a->c;
	struct cjob *cj;
	struct job old;

	pthread_mutex_lock(&c->lock);
	if (!(cj = hmap_get(&c->jobs, r->job.id))) {
		apply_new(a, r);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	cj->indexed = true;
	if (cj->running && r->cancel_requested)
		cj->cancel = true;
	if (r->rev <= cj->rev || cj->pending) {
		pthread_mutex_unlock(&c->lock);
		job_clear(&r->job);
		return;
	}
	if (cj->running) { /* another host took it: stop, and read it again after */
		if (!cj->lost)
			log_warn("job %s: taken over by host %s; stopping this host's attempt",
				 cj->rec.id, r->job.host[0] ? r->job.host : "(unknown)");
		cj->lost = true;
		pthread_mutex_unlock(&c->lock);
		job_clear(&r->job);
		return;
	}
	old = cj->rec;
	cj->rec = r->job;
	cj->rev = r->rev;
	if (cj->rec.state == JOB_QUEUED && !cj->in_queue)
		core_queue_push(c, cj);
	else if (cj->rec.state != JOB_QUEUED)
		core_queue_remove(c, cj);
	if (job_state_is_final(cj->rec.state))
		core_track_final(c, cj, a->now);
	core_events_add(a->ev, CORE_EV_CHANGED, &cj->rec);
	pthread_mutex_unlock(&c->lock);
	job_clear(&old);
}

/* The change read re-reads a few seconds of rows each time: a rev this
 * host has is not parsed again (a running job's cancel flag aside). */
static bool apply_want(void *ctx, const char *jid, int64_t rev)
{
	struct apply_ctx *a = ctx;
	struct cjob *cj;
	bool want;

	pthread_mutex_lock(&a->c->lock);
	cj = hmap_get(&a->c->jobs, jid);
	want = !cj || rev > cj->rev || cj->running;
	if (cj)
		cj->indexed = true; /* seen by a full read */
	pthread_mutex_unlock(&a->c->lock);
	return want;
}

static void apply_gone(void *ctx, const char *sid, const char *jid)
{
	struct apply_ctx *a = ctx;
	struct cjob *cj;

	(void)sid;
	pthread_mutex_lock(&a->c->lock);
	if ((cj = hmap_get(&a->c->jobs, jid)) && !cj->running && !cj->pending) {
		core_events_add(a->ev, CORE_EV_DELETED, &cj->rec);
		core_cache_remove(a->c, cj);
	}
	pthread_mutex_unlock(&a->c->lock);
}

static void unmark(void *ctx, void *val)
{
	(void)ctx;
	((struct cjob *)val)->indexed = false;
}

struct sweep_ctx {
	struct cjob **v;
	size_t n, cap;
};

static void unseen(void *ctx, void *val)
{
	struct sweep_ctx *k = ctx;
	struct cjob *cj = val;

	if (!cj->indexed && !cj->running && !cj->pending &&
	    !util_grow((void **)&k->v, &k->cap, k->n, sizeof(*k->v)))
		k->v[k->n++] = cj;
}

/* Read the changed rows (all with @full) into the cache. After a full read
 * the jobs it did not see are gone (deleted while we were not listening).
 * Caller holds io_lock. */
static int sync_rows(struct core *c, bool full, struct core_events *ev)
{
	struct apply_ctx a = { c, ev, core_clock(c), false };
	struct pgs_sink sink = { apply_want, apply_row, apply_gone, &a };
	struct sweep_ctx k = { 0 };
	int rc;

	if (full) {
		pthread_mutex_lock(&c->lock);
		hmap_each(&c->jobs, unmark, NULL);
		pthread_mutex_unlock(&c->lock);
	}
	if ((rc = pgs_changes(c->pg, full, &sink)) || !full)
		return rc;
	pthread_mutex_lock(&c->lock);
	hmap_each(&c->jobs, unseen, &k);
	for (size_t i = 0; i < k.n; i++) {
		core_events_add(ev, CORE_EV_DELETED, &k.v[i]->rec);
		core_cache_remove(c, k.v[i]);
	}
	pthread_mutex_unlock(&c->lock);
	free(k.v);
	return 0;
}

void cluster_refresh(struct core *c, struct cjob *cj, struct core_events *ev)
{
	struct apply_ctx a = { c, ev, core_clock(c), false };
	struct pgs_row row;
	char jid[JOB_ID_LEN + 1];
	int rc;

	if (!c->pg)
		return;
	memcpy(jid, cj->rec.id, sizeof(jid));
	if ((rc = pgs_get(c->pg, jid, &row)) == 0)
		apply_row(&a, &row);
	else if (rc == -ENOENT)
		apply_gone(&a, cj->rec.session, jid);
	/* else the next change read brings it */
}

/* ---- requeue and claim: how a row's record changes ---- */

struct requeue_ctx {
	const struct core *c;
	bool own;
};

/* A job whose host went silent (or, at mount, this host's own from its
 * previous life): queued again, or failed once it has started 3 times. */
static int edit_requeue(void *ctx, struct job *j)
{
	const struct requeue_ctx *k = ctx;
	const struct core *c = k->c;
	util_ms now = core_clock(c);
	char line[160];

	if (j->attempts >= CORE_MAX_ATTEMPTS) {
		/* no attempt follows to sweep what the last one left */
		store_sweep_attempts(&c->store, j->session, j->id);
		job_set_state(j, JOB_ERROR, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		snprintf(line, sizeof(line), "interrupted %d times; failed", j->attempts);
		if (job_set_str(&j->error, "interrupted"))
			return -ENOMEM;
	} else {
		job_set_state(j, JOB_QUEUED, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		j->progress = 0;
		snprintf(line, sizeof(line), k->own ? "host %s restarted; queued again"
			 : "lease of host %s ran out; queued again", j->host[0] ? j->host : "?");
	}
	log_warn("job %s: %s", j->id, line);
	core_log_append(j, now, line);
	return 0;
}

static int edit_claim(void *ctx, struct job *j)
{
	const struct core *c = ctx;
	util_ms now = core_clock(c);
	char line[JOB_HOST_MAX + 64];

	j->attempts++;
	j->progress = 0;
	job_set_state(j, JOB_LOADING_STEMS, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
	snprintf(j->host, sizeof(j->host), "%s", pgs_host(c->pg));
	snprintf(line, sizeof(line), "loading_stems (host %s, attempt %d)", j->host, j->attempts);
	core_log_append(j, now, line);
	return 0;
}

struct cjob *cluster_claim(struct core *c)
{
	struct core_events ev = { 0 };
	struct apply_ctx a = { c, &ev, 0, false };
	struct pgs_row row;
	struct cjob *cj = NULL;
	util_ms sent = util_mono_ms();
	char jid[JOB_ID_LEN + 1];
	bool cancel;

	pthread_mutex_lock(&c->io_lock);
	if (pgs_claim(c->pg, edit_claim, c, &row)) {
		pthread_mutex_unlock(&c->io_lock);
		return NULL;
	}
	memcpy(jid, row.job.id, sizeof(jid));
	cancel = row.cancel_requested;
	a.now = core_clock(c);
	apply_row(&a, &row);
	pthread_mutex_lock(&c->lock);
	if ((cj = hmap_get(&c->jobs, jid)) && !cj->running) {
		core_queue_remove(c, cj);
		cj->running = true;
		cj->lost = false;
		cj->cancel = cancel;
		cj->lease_mono = sent + lease_ms(c);
	} else {
		cj = NULL; /* out of memory: its lease runs out and it is requeued */
	}
	pthread_mutex_unlock(&c->lock);
	core_check(c);
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return cj;
}

int cluster_cancel_remote(struct core *c, struct cjob *cj)
{
	int rc = pgs_request_cancel(c->pg, cj->rec.id);

	return rc == -ENOENT ? 0 : rc; /* it went final meanwhile */
}

/* ---- the records ---- */

static int pg_insert(struct core *c, const struct job *j, int64_t *rev)
{
	return pgs_insert(c->pg, j, c->cfg.max_jobs_per_session, rev);
}

static int pg_update(struct core *c, struct cjob *cj, const struct job *next, int64_t *rev)
{
	util_ms sent = util_mono_ms();
	bool leased, lost, cancel = false;
	int64_t from;
	int rc;

	pthread_mutex_lock(&c->lock);
	leased = cj->running;
	lost = cj->lost;
	from = cj->rev;
	pthread_mutex_unlock(&c->lock);
	if (lost)
		return -ESTALE;
	rc = pgs_update(c->pg, next, from, leased, rev, &cancel);
	pthread_mutex_lock(&c->lock);
	if (!rc && leased) {
		cj->lease_mono = sent + lease_ms(c);
		cj->cancel = cj->cancel || cancel;
	}
	if (rc == -ESTALE && leased)
		cj->lost = true;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

struct drop_ctx {
	struct core *c;
	char (*ids)[JOB_ID_LEN + 1];
	size_t n, cap;
};

static int drop_files(void *ctx, const struct job *j)
{
	struct drop_ctx *k = ctx;
	int rc = store_delete_job(&k->c->store, j, j->state == JOB_COMPLETE);

	if (rc)
		log_error("cleanup: job %s: cannot delete its files: %s; will retry", j->id,
			  strerror(-rc));
	return rc;
}

static void gone_note(void *ctx, const char *sid, const char *jid)
{
	struct drop_ctx *k = ctx;

	(void)sid;
	if (!util_grow((void **)&k->ids, &k->cap, k->n, sizeof(*k->ids)))
		snprintf(k->ids[k->n++], JOB_ID_LEN + 1, "%s", jid);
}

static int pg_expire(struct core *c, util_ms now, struct core_events *ev)
{
	struct drop_ctx k = { c, NULL, 0, 0 };
	struct pgs_delete d = { drop_files, gone_note, &k };
	struct apply_ctx a = { c, ev, now, false };
	size_t n;
	int rounds = 0;

	/* by the database's clock; a batch at a time, so one pass cannot hold
	 * the connection for ever */
	while (pgs_delete(c->pg, NULL, &d, &n) == 0 && n > 0 && ++rounds < 20)
		;
	for (size_t i = 0; i < k.n; i++)
		apply_gone(&a, "", k.ids[i]);
	free(k.ids);
	return (int)k.n;
}

static void gone_ignore(void *ctx, const char *sid, const char *jid)
{
	(void)ctx;
	(void)sid;
	(void)jid;
}

static int pg_remove(struct core *c, struct cjob *cj)
{
	struct drop_ctx k = { c, NULL, 0, 0 };
	struct pgs_delete d = { drop_files, gone_ignore, &k };
	struct pgs_row row;
	size_t n;
	int rc = pgs_delete(c->pg, cj->rec.id, &d, &n);

	if (rc != -ENOENT)
		return rc;
	/* not final in the database, or not there at all */
	if ((rc = pgs_get(c->pg, cj->rec.id, &row)) == -ENOENT)
		return 0;
	if (rc == 0)
		job_clear(&row.job);
	return rc ? rc : -EBUSY;
}

const struct core_records core_pg_records = {
	.insert = pg_insert,
	.update = pg_update,
	.expire = pg_expire,
	.remove = pg_remove,
};

/* ---- leases ---- */

struct renew_ctx {
	struct core *c;
	util_ms sent;
};

static void held(void *ctx, const char *jid, bool cancel)
{
	struct renew_ctx *k = ctx;
	struct cjob *cj;

	pthread_mutex_lock(&k->c->lock);
	if ((cj = hmap_get(&k->c->jobs, jid)) && cj->running) {
		cj->lease_mono = k->sent + lease_ms(k->c);
		cj->cancel = cj->cancel || cancel;
	}
	pthread_mutex_unlock(&k->c->lock);
}

/* Renew the leases of the jobs this host's workers run. A running job
 * whose renewal fails keeps its old deadline, and its worker stops before
 * it passes (workers.c). */
static void renew(struct core *c)
{
	struct renew_ctx k = { c, util_mono_ms() };
	core_jid ids[CORE_WORKERS_MAX];
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->n_threads && n < CORE_WORKERS_MAX; i++)
		if (c->threads[i].job[0])
			memcpy(ids[n++], c->threads[i].job, sizeof(*ids));
	pthread_mutex_unlock(&c->lock);
	if (n)
		pgs_renew(c->pg, (const char (*)[JOB_ID_LEN + 1])ids, n, held, &k);
}

static void requeue(struct core *c, bool own)
{
	struct requeue_ctx k = { c, own };
	size_t n = 0;

	pgs_requeue(c->pg, own, edit_requeue, &k, &n);
}

/* ---- the sync thread ---- */

static bool stopping(struct core *c)
{
	bool s;

	pthread_mutex_lock(&c->lock);
	s = c->stopping;
	pthread_mutex_unlock(&c->lock);
	return s;
}

static void *sync_main(void *arg)
{
	struct core *c = arg;
	util_ms renew_every = lease_ms(c) / 4 > 0 ? lease_ms(c) / 4 : 1;
	util_ms next_renew = 0, next_requeue = 0;
	bool full = false;

	while (!stopping(c)) {
		struct core_events ev = { 0 };
		int w = pgs_wait(c->pg, SYNC_MS);
		util_ms now = util_mono_ms();

		full = full || w == 2;
		if (now >= next_renew) {
			renew(c);
			next_renew = now + renew_every;
		}
		if (now >= next_requeue) {
			requeue(c, false);
			next_requeue = now + REQUEUE_MS;
		}
		pthread_mutex_lock(&c->io_lock);
		if (sync_rows(c, full, &ev) == 0)
			full = false;
		core_check(c);
		pthread_mutex_unlock(&c->io_lock);
		core_events_fire(c, &ev);
	}
	return NULL;
}

int cluster_open(struct core *c, util_ms now, char *err, size_t errlen)
{
	struct core_events ev = { 0 };
	struct apply_ctx a = { c, &ev, now, true };
	struct pgs_sink sink = { NULL, apply_row, apply_gone, &a };
	char host[JOB_HOST_MAX + 1];
	int rc;

	snprintf(host, sizeof(host), "%s", c->cfg.host);
	if ((rc = pgs_open(&c->pg, c->cfg.database, host, c->cfg.lease_s, err, errlen)))
		return rc;
	c->records = &core_pg_records;
	requeue(c, true);
	if ((rc = pgs_changes(c->pg, true, &sink))) {
		snprintf(err, errlen, "cannot read the jobs from %s", pgs_where(c->pg));
		return rc;
	}
	free(ev.v);
	return 0;
}

void cluster_close(struct core *c)
{
	pgs_close(c->pg);
	c->pg = NULL;
}

int cluster_start(struct core *c)
{
	int rc;

	if ((rc = pthread_create(&c->syncer, NULL, sync_main, c)))
		return -rc;
	c->syncer_started = true;
	return 0;
}

void cluster_stop(struct core *c)
{
	if (!c->syncer_started)
		return;
	pthread_join(c->syncer, NULL);
	c->syncer_started = false;
}
