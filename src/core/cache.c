/*
 * cache.c - the job cache: jobs by id, sessions with their jobs oldest
 * first and their receipts, the run queue, the expiry heap, and the one
 * way a record changes (core_commit: disk first, then the cache). The
 * events a change makes are gathered under the lock and told after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_impl.h"
#include "mixfs/log.h"

/* ---- events ---- */

void core_events_add(struct core_events *e, enum core_event ev, const struct job *j)
{
	if (util_grow((void **)&e->v, &e->cap, e->n, sizeof(*e->v)))
		return; /* the tree's caches then expire on their own timeout */
	e->v[e->n].ev = ev;
	memcpy(e->v[e->n].sid, j->session, sizeof(j->session));
	memcpy(e->v[e->n].jid, j->id, sizeof(j->id));
	e->n++;
}

void core_events_fire(struct core *c, struct core_events *e)
{
	for (size_t i = 0; c->listener && i < e->n; i++)
		c->listener(c->listener_ctx, e->v[i].ev, e->v[i].sid, e->v[i].jid);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* ---- the cache ---- */

struct csession *core_session_get(struct core *c, const char *sid, bool create)
{
	struct csession *s = hmap_get(&c->sessions, sid);

	if (s || !create)
		return s;
	if (!(s = calloc(1, sizeof(*s))))
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", sid);
	if (hmap_put(&c->sessions, s->name, s)) {
		free(s);
		return NULL;
	}
	return s;
}

int core_by_created(const void *a, const void *b)
{
	const struct cjob *x = *(struct cjob *const *)a, *y = *(struct cjob *const *)b;

	if (x->rec.created_at != y->rec.created_at)
		return x->rec.created_at < y->rec.created_at ? -1 : 1;
	return strcmp(x->rec.id, y->rec.id);
}

/* Receipts answer "which job is requests/NAME" in O(1): ls -l of a drop box
 * holding thousands of names must not scan the session per name. */
static void receipt_note(struct csession *s, struct cjob *cj)
{
	const char *name = cj->rec.request_name;
	struct creceipt *r;

	if (!name)
		return;
	if (!(r = hmap_get(&s->receipts, name))) {
		if (!(r = calloc(1, sizeof(*r))) || !(r->name = strdup(name)) ||
		    hmap_put(&s->receipts, r->name, r)) {
			if (r)
				free(r->name);
			free(r);
			log_error("job %s: out of memory; requests/%s shows no receipt", cj->rec.id, name);
			return;
		}
	}
	if (!r->cj || core_by_created(&cj, &r->cj) > 0)
		r->cj = cj;
}

/* @cj leaves the session: its name's receipt falls to the next newest. */
static void receipt_forget(struct csession *s, struct cjob *cj)
{
	const char *name = cj->rec.request_name;
	struct creceipt *r = name ? hmap_get(&s->receipts, name) : NULL;

	if (!r || r->cj != cj)
		return;
	r->cj = NULL;
	for (size_t i = s->n; i-- > 0;) {
		struct cjob *o = s->jobs[i];

		if (o != cj && o->rec.request_name && strcmp(o->rec.request_name, name) == 0 &&
		    (!r->cj || core_by_created(&o, &r->cj) > 0))
			r->cj = o;
	}
	if (!r->cj) {
		hmap_del(&s->receipts, name);
		free(r->name);
		free(r);
	}
}

/* Add @cj to its session: in created order when @ordered (a clock set back
 * can make a new job older than the last), else at the end, for a load
 * that sorts the session once it is done. */
static int session_append(struct csession *s, struct cjob *cj, bool ordered)
{
	size_t at;

	if (util_grow((void **)&s->jobs, &s->cap, s->n, sizeof(*s->jobs)))
		return -ENOMEM;
	for (at = s->n; ordered && at > 0 && core_by_created(&s->jobs[at - 1], &cj) > 0; at--)
		;
	memmove(&s->jobs[at + 1], &s->jobs[at], (s->n - at) * sizeof(*s->jobs));
	s->jobs[at] = cj;
	s->n++;
	cj->sess = s;
	for (size_t i = at; i < s->n; i++)
		s->jobs[i]->sess_pos = i;
	return 0;
}

static void session_remove(struct cjob *cj)
{
	struct csession *s = cj->sess;

	memmove(&s->jobs[cj->sess_pos], &s->jobs[cj->sess_pos + 1],
		(s->n - cj->sess_pos - 1) * sizeof(*s->jobs));
	s->n--;
	for (size_t i = cj->sess_pos; i < s->n; i++)
		s->jobs[i]->sess_pos = i;
}

void core_track_final(struct core *c, struct cjob *cj, util_ms now)
{
	util_ms expiry = cleanup_expiry(cj->rec.state, cj->rec.updated_at, now, &c->cfg.ttls);

	cleanup_heap_remove(&c->expiry, cj->heap_pos);
	if (expiry != CLEANUP_NEVER)
		cj->rec.expires_at = expiry; /* older records lack it; a future one moves */
	if (expiry != CLEANUP_NEVER && cleanup_heap_push(&c->expiry, expiry, cj, &cj->heap_pos))
		log_error("job %s: out of memory; it will not expire until restart", cj->rec.id);
}

/* Insert a new job into the cache. Caller holds lock. Takes @j's strings. */
int core_cache_insert(struct core *c, struct job *j, util_ms now, bool loading,
		      struct cjob **out)
{
	struct cjob *cj = calloc(1, sizeof(*cj));
	struct csession *s = core_session_get(c, j->session, true);

	if (cj)
		cj->rec = *j; /* its place in the session goes by its times */
	if (!cj || !s || session_append(s, cj, !loading)) {
		free(cj);
		return -ENOMEM;
	}
	cj->heap_pos = CLEANUP_NOT_QUEUED;
	if (hmap_put(&c->jobs, cj->rec.id, cj)) {
		session_remove(cj);
		free(cj);
		return -ENOMEM;
	}
	memset(j, 0, sizeof(*j));
	receipt_note(s, cj);
	if (job_state_is_final(cj->rec.state))
		core_track_final(c, cj, now);
	if (out)
		*out = cj;
	return 0;
}

/* Remove and free a job. Caller holds lock. */
void core_cache_remove(struct core *c, struct cjob *cj)
{
	cleanup_heap_remove(&c->expiry, cj->heap_pos);
	core_queue_remove(c, cj);
	hmap_del(&c->jobs, cj->rec.id);
	receipt_forget(cj->sess, cj);
	session_remove(cj);
	job_clear(&cj->rec);
	free(cj);
}

void core_queue_push(struct core *c, struct cjob *cj)
{
	cj->qnext = NULL;
	cj->in_queue = true;
	if (c->q_tail)
		c->q_tail->qnext = cj;
	else
		c->q_head = cj;
	c->q_tail = cj;
	c->queue_gen++;
	pthread_cond_signal(&c->work_cond);
}

struct cjob *core_queue_pop(struct core *c)
{
	struct cjob *cj = c->q_head;

	if (cj)
		core_queue_remove(c, cj);
	return cj;
}

void core_queue_remove(struct core *c, struct cjob *cj)
{
	struct cjob **p = &c->q_head, *prev = NULL;

	if (!cj->in_queue)
		return;
	while (*p && *p != cj) {
		prev = *p;
		p = &(*p)->qnext;
	}
	if (*p)
		*p = cj->qnext;
	if (c->q_tail == cj)
		c->q_tail = prev;
	cj->in_queue = false;
	cj->qnext = NULL;
}

int core_snapshot(struct core *c, struct cjob *cj, struct job *out)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = job_copy(out, &cj->rec);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int core_commit(struct core *c, struct cjob *cj, struct job *next)
{
	struct job old;
	int64_t rev;
	int rc = c->records->update(c, cj, next, &rev);

	if (rc == -ESTALE) {
		log_warn("job %s: changed by another host; this host's write is dropped", next->id);
		return rc;
	}
	if (rc) {
		/* a database out of reach was logged once, for every write */
		if (!c->pg || rc != -EIO)
			log_error("job %s: cannot write its record: %s", next->id, strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	old = cj->rec;
	cj->rec = *next;
	cj->rev = rev;
	if (job_state_is_final(next->state)) {
		cj->running = false; /* a final job is no worker's: the pass may take it */
		core_track_final(c, cj, next->updated_at);
	}
	pthread_mutex_unlock(&c->lock);
	job_clear(&old);
	memset(next, 0, sizeof(*next));
	return 0;
}
