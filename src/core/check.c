/*
 * check.c - the cache's invariants, checked against each other (in the
 * spirit of a pager's state assertions): in test builds (MIXFS_CHECK,
 * set with SANITIZE) every change-making core operation ends with
 * core_check(), which aborts naming the first broken invariant. A
 * release build compiles it to nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"

#ifdef MIXFS_CHECK

static void broken(const char *what, const char *jid)
{
	fprintf(stderr, "mixfs: core_check: %s%s%s\n", what, jid ? ": job " : "", jid ? jid : "");
	abort();
}

struct check_ctx {
	struct core *c;
	size_t jobs, queued_flags, pending;
};

/* A job: in its session at its place; queue, heap and pending flags agree
 * with its state. */
static void check_job(void *ctx, void *val)
{
	struct check_ctx *k = ctx;
	struct cjob *cj = val;
	struct csession *s = cj->sess;
	bool final = job_state_is_final(cj->rec.state);

	k->jobs++;
	if (!s || cj->sess_pos >= s->n || s->jobs[cj->sess_pos] != cj)
		broken("a job is not where its session says", cj->rec.id);
	if (strcmp(s->name, cj->rec.session) != 0)
		broken("a job is in another session's list", cj->rec.id);
	if (cj->in_queue) {
		k->queued_flags++;
		if (cj->rec.state != JOB_QUEUED || cj->running)
			broken("a queued job is not queued, or is running", cj->rec.id);
	}
	if (final && cj->running)
		broken("a final job is still held by a worker", cj->rec.id);
	if (cj->pending && cj->running)
		broken("a job whose run is over is still held by a worker", cj->rec.id);
	if (!final && cj->heap_pos != CLEANUP_NOT_QUEUED)
		broken("an active job is in the expiry heap", cj->rec.id);
	if (final && cj->heap_pos != CLEANUP_NOT_QUEUED &&
	    (cj->heap_pos >= k->c->expiry.n || k->c->expiry.v[cj->heap_pos].item != cj))
		broken("a final job's heap place is wrong", cj->rec.id);
	if (cj->pending) {
		k->pending++;
		if (final || !job_state_is_final(cj->pending->state))
			broken("a pending record is not a final one over an active job", cj->rec.id);
	}
}

/* A session: its jobs oldest first; each receipt names its newest job of
 * that name. */
static void check_session(void *ctx, void *val)
{
	struct csession *s = val;
	size_t *total = ctx;

	*total += s->n;
	for (size_t i = 1; i < s->n; i++)
		if (core_by_created(&s->jobs[i - 1], &s->jobs[i]) > 0)
			broken("a session's jobs are out of order", s->jobs[i]->rec.id);
	for (size_t i = 0; i < s->n; i++) {
		const char *name = s->jobs[i]->rec.request_name;
		struct creceipt *r = name ? hmap_get(&s->receipts, name) : NULL;

		if (name && (!r || !r->cj || r->cj->sess != s ||
			     strcmp(r->cj->rec.request_name, name) != 0 ||
			     core_by_created(&s->jobs[i], &r->cj) > 0))
			broken("a receipt does not name the newest job of its name", s->jobs[i]->rec.id);
	}
}

void core_check(struct core *c)
{
	struct check_ctx k = { c, 0, 0, 0 };
	size_t in_sessions = 0, queue_len = 0;
	struct cjob *last = NULL;

	pthread_mutex_lock(&c->lock);
	hmap_each(&c->jobs, check_job, &k);
	hmap_each(&c->sessions, check_session, &in_sessions);
	if (in_sessions != k.jobs)
		broken("the sessions hold another number of jobs than the cache", NULL);
	for (struct cjob *q = c->q_head; q; q = q->qnext, queue_len++)
		last = q;
	if (queue_len != k.queued_flags || last != c->q_tail)
		broken("the run queue and the jobs' in_queue flags disagree", NULL);
	for (size_t i = 1; i < c->expiry.n; i++)
		if (c->expiry.v[i].expiry < c->expiry.v[(i - 1) / 2].expiry)
			broken("the expiry heap is out of order", NULL);
	for (size_t i = 0; i < c->expiry.n; i++)
		if (*c->expiry.v[i].pos != i)
			broken("a heap entry's place is not where its job says", NULL);
	if (k.pending != c->n_stranded)
		broken("pending records and the stranded list disagree", NULL);
	pthread_mutex_unlock(&c->lock);
}

#else

void core_check(struct core *c)
{
	(void)c;
}

#endif
