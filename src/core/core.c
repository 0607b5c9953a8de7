/*
 * core.c - the job cache, submit/cancel/delete, and the cleanup pass.
 * See core.h for the contract and core_impl.h for the locks.
 *
 * The cleanup pass pops final jobs from an expiry heap (cleanup.h) while
 * the earliest has expired, so a pass with nothing to delete is one peek.
 */
#include "mixfs/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_impl.h"
#include "mixfs/log.h"
#include "mixfs/request.h"

/* A deletion that failed is retried this much later, not in a tight loop. */
#define CLEANUP_RETRY_MS (60 * 1000)
#define MAX_ATTEMPTS 3

/* ---- events ---- */

void core_events_add(struct core_events *e, enum core_event ev, const struct job *j)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct core_event_rec *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return; /* the tree's caches then expire on their own timeout */
		e->v = v;
		e->cap = cap;
	}
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

static struct csession *session_get(struct core *c, const char *sid, bool create)
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

static int by_created(const void *a, const void *b);

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
	if (!r->cj || by_created(&cj, &r->cj) > 0)
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
		    (!r->cj || by_created(&o, &r->cj) > 0))
			r->cj = o;
	}
	if (!r->cj) {
		hmap_del(&s->receipts, name);
		free(r->name);
		free(r);
	}
}

static int session_append(struct csession *s, struct cjob *cj)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct cjob **v = realloc(s->jobs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->jobs = v;
		s->cap = cap;
	}
	cj->sess = s;
	cj->sess_pos = s->n;
	s->jobs[s->n++] = cj;
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
static int cache_insert(struct core *c, struct job *j, util_ms now, struct cjob **out)
{
	struct cjob *cj = calloc(1, sizeof(*cj));
	struct csession *s = session_get(c, j->session, true);

	if (!cj || !s || session_append(s, cj)) {
		free(cj);
		return -ENOMEM;
	}
	cj->rec = *j;
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
static void cache_remove(struct core *c, struct cjob *cj)
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
	int rc = store_write_record(&c->store, next);

	if (rc) {
		log_error("job %s: cannot write its record: %s", next->id, strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	old = cj->rec;
	cj->rec = *next;
	if (job_state_is_final(next->state))
		core_track_final(c, cj, next->updated_at);
	pthread_mutex_unlock(&c->lock);
	job_clear(&old);
	memset(next, 0, sizeof(*next));
	return 0;
}

/* ---- records that could not be written ---- */

#define STRAND_LOG_MS (60 * 1000)

void core_strand(struct core *c, struct cjob *cj, struct job *next)
{
	struct job *p = malloc(sizeof(*p));
	struct cjob **v;

	if (!p) {
		/* the disk still holds the active record: the next mount reruns it */
		log_error("job %s: out of memory; its final record is lost until restart", next->id);
		job_clear(next);
		return;
	}
	*p = *next;
	memset(next, 0, sizeof(*next));
	pthread_mutex_lock(&c->lock);
	if (cj->pending) {
		job_clear(cj->pending);
		free(cj->pending);
	} else if (c->n_stranded == c->cap_stranded &&
		   (v = realloc(c->stranded, (c->cap_stranded * 2 + 4) * sizeof(*v)))) {
		c->stranded = v;
		c->cap_stranded = c->cap_stranded * 2 + 4;
	}
	if (!cj->pending && c->n_stranded == c->cap_stranded) {
		pthread_mutex_unlock(&c->lock);
		log_error("job %s: out of memory; its final record is lost until restart", p->id);
		job_clear(p);
		free(p);
		return;
	}
	if (!cj->pending)
		c->stranded[c->n_stranded++] = cj;
	cj->pending = p;
	pthread_cond_broadcast(&c->hk_cond);
	pthread_mutex_unlock(&c->lock);
}

/* Forget @cj's pending record. Caller holds lock. */
static void unstrand(struct core *c, struct cjob *cj)
{
	job_clear(cj->pending);
	free(cj->pending);
	cj->pending = NULL;
	for (size_t i = 0; i < c->n_stranded; i++)
		if (c->stranded[i] == cj)
			c->stranded[i] = c->stranded[--c->n_stranded];
}

static bool session_gone(struct core *c, const char *sid)
{
	struct stat st;

	return store_session_stat(&c->store, sid, &st) == -ENOENT;
}

static bool job_running(struct core *c, struct cjob *cj)
{
	bool running;

	pthread_mutex_lock(&c->lock);
	running = cj->running; /* its worker still holds it: not yet to free */
	pthread_mutex_unlock(&c->lock);
	return running;
}

/* Write @cj's pending record. Caller holds io_lock. */
static int retry_one(struct core *c, struct cjob *cj, util_ms now, struct core_events *ev)
{
	struct job next;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = job_copy(&next, cj->pending);
	pthread_mutex_unlock(&c->lock);
	if (rc)
		return rc;
	if ((rc = store_write_record(&c->store, &next)) && session_gone(c, next.session) &&
	    !job_running(c, cj)) {
		/* the disk holds no such job any more: neither does the tree */
		log_warn("job %s: its session %s was removed; the job goes with it", next.id,
			 next.session);
		job_clear(&next);
		pthread_mutex_lock(&c->lock);
		unstrand(c, cj);
		core_events_add(ev, CORE_EV_DELETED, &cj->rec);
		cache_remove(c, cj);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (rc) {
		if (now - cj->pending_logged_at >= STRAND_LOG_MS) {
			log_error("job %s: its final record still cannot be written: %s; retrying",
				  next.id, strerror(-rc));
			cj->pending_logged_at = now;
		}
		job_clear(&next);
		return rc;
	}
	log_info("job %s: its final record is written at last (%s)", next.id,
		 job_state_name(next.state));
	pthread_mutex_lock(&c->lock);
	job_clear(&cj->rec);
	cj->rec = next;
	unstrand(c, cj);
	core_track_final(c, cj, cj->rec.updated_at);
	core_events_add(ev, CORE_EV_CHANGED, &cj->rec);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int core_retry_stranded(struct core *c, struct cjob *cj, util_ms now, struct core_events *ev)
{
	struct cjob **v = NULL;
	size_t n = 0;
	int rc = 0;

	if (cj) {
		pthread_mutex_lock(&c->lock);
		n = cj->pending ? 1 : 0;
		pthread_mutex_unlock(&c->lock);
		return n ? retry_one(c, cj, now, ev) : 0;
	}
	pthread_mutex_lock(&c->lock);
	if (c->n_stranded && (v = malloc(c->n_stranded * sizeof(*v)))) {
		n = c->n_stranded;
		memcpy(v, c->stranded, n * sizeof(*v));
	}
	rc = c->n_stranded && !v ? -ENOMEM : 0;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		int r = retry_one(c, v[i], now, ev);

		rc = r ? r : rc;
	}
	free(v);
	return rc;
}

/* ---- open: load and recover ---- */

struct load_ctx {
	struct core *c;
	util_ms now;
	struct cjob **active;	/* found active: recover after load */
	size_t n_active, cap_active;
};

static void leftover_add(struct core *c, enum store_root root, const char *rel, util_ms expiry)
{
	struct core_leftover *v;

	if (c->n_leftover == c->cap_leftover) {
		size_t cap = c->cap_leftover ? c->cap_leftover * 2 : 8;

		if (!(v = realloc(c->leftover, cap * sizeof(*v))))
			return;
		c->leftover = v;
		c->cap_leftover = cap;
	}
	if (!(c->leftover[c->n_leftover].rel = strdup(rel)))
		return;
	c->leftover[c->n_leftover].root = root;
	c->leftover[c->n_leftover++].expiry = expiry;
}

static util_ms ttl_max(const struct core *c)
{
	return c->cfg.ttls.complete > c->cfg.ttls.failed ? c->cfg.ttls.complete
							 : c->cfg.ttls.failed;
}

/* A job's own output and index file, when its record is unreadable or
 * gone: they go once the job, whatever its state was, would have expired
 * (@expiry at the earliest, and the longest TTL after the output was
 * last written). */
static void leftover_job_files(struct core *c, const char *sid, const char *jid, util_ms expiry)
{
	char rel[STORE_PATH_MAX];
	util_ms mtime;

	if (!store_output_rel(sid, jid, rel) &&
	    !store_file_mtime(&c->store, STORE_OUTPUTS, rel, &mtime)) {
		if (mtime + ttl_max(c) > expiry)
			expiry = mtime + ttl_max(c);
		leftover_add(c, STORE_OUTPUTS, rel, expiry);
	}
	if (!store_index_rel(jid, rel) && !store_file_mtime(&c->store, STORE_MEDIA, rel, &mtime))
		leftover_add(c, STORE_MEDIA, rel, expiry);
}

static bool leftover_has_jid(const struct core *c, const char *jid)
{
	for (size_t i = 0; i < c->n_leftover; i++)
		if (strstr(c->leftover[i].rel, jid))
			return true;
	return false;
}

static void load_on_corrupt(void *ctx, const char *sid, const char *jid, const char *rel,
			    util_ms mtime, const char *why)
{
	struct load_ctx *l = ctx;
	util_ms expiry = mtime + l->c->cfg.ttls.failed;

	(void)why;
	leftover_add(l->c, STORE_MEDIA, rel, expiry);
	if (jid)
		leftover_job_files(l->c, sid, jid, expiry);
}

static void load_on_record(void *ctx, struct job *j)
{
	struct load_ctx *l = ctx;
	struct cjob *cj;
	char id[JOB_ID_LEN + 1];

	memcpy(id, j->id, sizeof(id));
	if (cache_insert(l->c, j, l->now, &cj)) {
		log_error("job %s: out of memory while loading", id);
		job_clear(j);
		return;
	}
	if (!job_state_is_active(cj->rec.state))
		return;
	if (l->n_active == l->cap_active) {
		size_t cap = l->cap_active ? l->cap_active * 2 : 16;
		struct cjob **v = realloc(l->active, cap * sizeof(*v));

		if (!v)
			return;
		l->active = v;
		l->cap_active = cap;
	}
	l->active[l->n_active++] = cj;
}

static int by_created(const void *a, const void *b)
{
	const struct cjob *x = *(struct cjob *const *)a, *y = *(struct cjob *const *)b;

	if (x->rec.created_at != y->rec.created_at)
		return x->rec.created_at < y->rec.created_at ? -1 : 1;
	return strcmp(x->rec.id, y->rec.id);
}

static void sort_session(void *ctx, void *val)
{
	struct csession *s = val;

	(void)ctx;
	if (s->n)
		qsort(s->jobs, s->n, sizeof(*s->jobs), by_created);
	for (size_t i = 0; i < s->n; i++)
		s->jobs[i]->sess_pos = i;
}

/* A job found active at open was running when the daemon died (or was
 * queued). Requeue it, or fail it once it has started MAX_ATTEMPTS times. */
static void recover_job(struct core *c, struct cjob *cj, util_ms now)
{
	struct job next;

	if (cj->rec.state == JOB_QUEUED) {
		core_queue_push(c, cj);
		return;
	}
	if (job_copy(&next, &cj->rec))
		return;
	if (next.attempts >= MAX_ATTEMPTS) {
		job_set_state(&next, JOB_ERROR, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		log_warn("job %s: interrupted %d times; failing it", next.id, next.attempts);
		if (job_set_str(&next.error, "interrupted")) {
			job_clear(&next);
			return; /* still active on disk: the next mount tries again */
		}
	} else {
		job_set_state(&next, JOB_QUEUED, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		next.progress = 0;
		log_info("job %s: was running when mixfs stopped; requeued", next.id);
	}
	if (core_commit(c, cj, &next)) {
		job_clear(&next);
		return;
	}
	if (cj->rec.state == JOB_QUEUED)
		core_queue_push(c, cj);
}

/* An index file with no record: a crash between a drop's two writes (the
 * drop was never acknowledged), or a record deleted behind our back. */
static void index_orphan(struct core *c, const char *jid, util_ms now)
{
	char sid[JOB_SESSION_MAX + 1], rel[STORE_PATH_MAX];
	util_ms mtime;
	int rc;

	if (leftover_has_jid(c, jid))
		return; /* its record is unreadable: they go together */
	if (!store_index_session(&c->store, jid, sid) && !store_output_rel(sid, jid, rel) &&
	    !store_file_mtime(&c->store, STORE_OUTPUTS, rel, &mtime)) {
		log_warn("job %s: its record is gone; its output and index go once expired", jid);
		leftover_job_files(c, sid, jid, now);
		return;
	}
	if (!store_index_rel(jid, rel) && (rc = store_file_unlink(&c->store, STORE_MEDIA, rel)))
		log_error("job %s: its index file has no record and cannot be removed: %s", jid,
			  strerror(-rc));
	else
		log_info("job %s: removed its index file, which had no record (an "
			 "unacknowledged drop)", jid);
}

struct index_ctx {
	struct core *c;
	util_ms now;
};

static void index_seen(void *ctx, const char *jid)
{
	struct index_ctx *k = ctx;
	struct cjob *cj = hmap_get(&k->c->jobs, jid);

	if (cj)
		cj->indexed = true;
	else
		index_orphan(k->c, jid, k->now);
}

static void index_rewrite(void *ctx, void *val)
{
	struct cjob *cj = val;
	int rc;

	(void)ctx;
	if (cj->indexed)
		return;
	if ((rc = store_write_index(&((struct core *)ctx)->store, &cj->rec)))
		log_error("job %s: its index file is missing and cannot be written: %s",
			  cj->rec.id, strerror(-rc));
	else
		log_info("job %s: its index file was missing; written again", cj->rec.id);
}

/* The record is the truth: index files follow it, both ways. */
static void repair_index(struct core *c, util_ms now)
{
	struct index_ctx k = { c, now };
	int rc = store_each_index(&c->store, index_seen, &k);

	if (rc)
		log_error("%s/jobs_index: cannot read: %s", c->store.media, strerror(-rc));
	else
		hmap_each(&c->jobs, index_rewrite, c);
}

static int core_load(struct core *c, util_ms now)
{
	struct load_ctx l = { .c = c, .now = now };
	struct store_visitor v = { load_on_record, load_on_corrupt, &l };
	int rc = store_load(&c->store, &v);

	if (!rc)
		repair_index(c, now);

	hmap_each(&c->sessions, sort_session, NULL);
	if (l.n_active)
		qsort(l.active, l.n_active, sizeof(*l.active), by_created);
	for (size_t i = 0; i < l.n_active; i++)
		recover_job(c, l.active[i], now);
	free(l.active);
	return rc;
}

static void core_monotonic_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

int core_open(struct core **out, const struct core_config *cfg, util_ms now,
	      char *err, size_t errlen)
{
	struct core *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->cfg = *cfg;
	pthread_mutex_init(&c->io_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work_cond, NULL);
	core_monotonic_cond_init(&c->hk_cond);
	hmap_init(&c->jobs);
	hmap_init(&c->sessions);
	cleanup_heap_init(&c->expiry);
	rc = store_open(&c->store, cfg->media_dir, cfg->outputs_dir, err, errlen);
	if (rc) {
		free(c);
		return rc;
	}
	rc = core_load(c, now);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", cfg->media_dir, strerror(-rc));
		core_close(c);
		return rc;
	}
	core_cleanup(c, now);
	*out = c;
	return 0;
}

void core_set_listener(struct core *c, core_listener_fn fn, void *ctx)
{
	c->listener = fn;
	c->listener_ctx = ctx;
}

int core_start(struct core *c)
{
	return core_workers_start(c);
}

void core_stop(struct core *c)
{
	core_workers_stop(c);
}

static void free_job(void *ctx, void *val)
{
	struct cjob *cj = val;

	(void)ctx;
	if (cj->pending) {
		log_warn("job %s: its final record (%s) could not be written; its record "
			 "still says %s, so it runs again at the next mount", cj->rec.id,
			 job_state_name(cj->pending->state), job_state_name(cj->rec.state));
		job_clear(cj->pending);
		free(cj->pending);
	}
	job_clear(&cj->rec);
	free(cj);
}

static void free_receipt(void *ctx, void *val)
{
	struct creceipt *r = val;

	(void)ctx;
	free(r->name);
	free(r);
}

static void free_session(void *ctx, void *val)
{
	struct csession *s = val;

	(void)ctx;
	hmap_each(&s->receipts, free_receipt, NULL);
	hmap_free(&s->receipts);
	free(s->jobs);
	free(s);
}

void core_close(struct core *c)
{
	if (!c)
		return;
	core_stop(c);
	cleanup_heap_free(&c->expiry);
	hmap_each(&c->jobs, free_job, NULL);
	hmap_each(&c->sessions, free_session, NULL);
	hmap_free(&c->jobs);
	hmap_free(&c->sessions);
	for (size_t i = 0; i < c->n_leftover; i++)
		free(c->leftover[i].rel);
	free(c->leftover);
	free(c->stranded);
	store_close(&c->store);
	pthread_cond_destroy(&c->work_cond);
	pthread_cond_destroy(&c->hk_cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->io_lock);
	free(c);
}

/* ---- the cleanup pass ---- */

static void cleanup_leftovers(struct core *c, util_ms now)
{
	for (size_t i = 0; i < c->n_leftover;) {
		struct core_leftover *k = &c->leftover[i];
		const char *root = k->root == STORE_MEDIA ? c->store.media : c->store.outputs;
		int rc;

		if (!cleanup_is_expired(k->expiry, now)) {
			i++;
			continue;
		}
		if ((rc = store_file_unlink(&c->store, k->root, k->rel))) {
			log_error("%s/%s: cannot delete: %s", root, k->rel, strerror(-rc));
			k->expiry = now + CLEANUP_RETRY_MS;
			i++;
			continue;
		}
		log_info("deleted %s/%s (left by a record unreadable or gone; expired)", root, k->rel);
		free(k->rel);
		*k = c->leftover[--c->n_leftover];
	}
}

/* Pop every expired job from the heap. Caller holds lock. */
static size_t take_expired(struct core *c, util_ms now, struct cjob ***out)
{
	struct cjob **v = NULL, *cj;
	size_t n = 0, cap = 0;
	util_ms expiry;

	while ((cj = cleanup_heap_peek(&c->expiry, &expiry)) && cleanup_is_expired(expiry, now)) {
		if (n == cap) {
			struct cjob **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		cleanup_heap_remove(&c->expiry, cj->heap_pos);
		if (cj->running) {
			/* its worker has yet to let go of it: a moment later */
			if (cleanup_heap_push(&c->expiry, now + 1000, cj, &cj->heap_pos))
				log_error("cleanup: job %s: out of memory", cj->rec.id);
			continue;
		}
		v[n++] = cj;
	}
	*out = v;
	return n;
}

/* Caller holds io_lock. */
static int cleanup_locked(struct core *c, util_ms now, struct core_events *ev)
{
	struct cjob **expired;
	size_t n;
	int deleted = 0;

	pthread_mutex_lock(&c->lock);
	n = take_expired(c, now, &expired);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		struct cjob *cj = expired[i];
		int rc = store_delete_job(&c->store, &cj->rec, cj->rec.state == JOB_COMPLETE);

		pthread_mutex_lock(&c->lock);
		if (rc) {
			log_error("cleanup: job %s: cannot delete its files: %s; will retry",
				  cj->rec.id, strerror(-rc));
			if (cleanup_heap_push(&c->expiry, now + CLEANUP_RETRY_MS, cj, &cj->heap_pos))
				log_error("cleanup: job %s: out of memory", cj->rec.id);
		} else {
			core_events_add(ev, CORE_EV_DELETED, &cj->rec);
			cache_remove(c, cj);
			deleted++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	free(expired);
	cleanup_leftovers(c, now);
	pthread_mutex_lock(&c->lock);
	c->last_cleanup_at = now;
	c->last_cleanup_count = deleted;
	pthread_mutex_unlock(&c->lock);
	log_msg(deleted ? LOG_LVL_INFO : LOG_LVL_DEBUG, "cleanup: %d expired job%s deleted",
		deleted, deleted == 1 ? "" : "s");
	return deleted;
}

int core_cleanup(struct core *c, util_ms now)
{
	struct core_events ev = { 0 };
	int n;

	pthread_mutex_lock(&c->io_lock);
	n = cleanup_locked(c, now, &ev);
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return n;
}

/* ---- submit, cancel, delete ---- */

static int build_job(struct core *c, const char *sid, const char *name, const char *text,
		     size_t len, long uid, util_ms now, struct job *j, char *err, size_t errlen)
{
	char perr[REQUEST_ERR_MAX];
	struct plan plan;
	int valid = request_parse(text, len, &plan, perr);

	if (valid == 0)
		plan_clear(&plan);
	job_init_new(j, sid, now, uid);
	if (job_set_str(&j->request_name, name))
		return -ENOMEM;
	j->request_text = strndup(text, len);
	if (!j->request_text)
		return -ENOMEM;
	if (valid != 0) {
		snprintf(err, errlen, "%s", perr);
		job_set_state(j, JOB_ERROR, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		if (job_set_str(&j->error, perr))
			return -ENOMEM;
	}
	return valid;
}

int core_submit(struct core *c, const char *sid, const char *name,
		const char *text, size_t len, long uid, util_ms now,
		char jid[JOB_ID_LEN + 1], char *err, size_t errlen)
{
	struct core_events ev = { 0 };
	struct csession *s;
	struct cjob *cj;
	struct job j;
	uid_t owner;
	int rc, valid;

	if (store_session_owner(&c->store, sid, &owner))
		return -ENOENT;
	pthread_mutex_lock(&c->io_lock);
	cleanup_locked(c, now, &ev);
	pthread_mutex_lock(&c->lock);
	s = session_get(c, sid, false);
	rc = c->cfg.max_jobs_per_session && s && s->n >= c->cfg.max_jobs_per_session
		     ? -EDQUOT : 0;
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		snprintf(err, errlen, "session %s holds %u jobs, its limit", sid,
			 c->cfg.max_jobs_per_session);
		goto out;
	}
	valid = build_job(c, sid, name, text, len, uid, now, &j, err, errlen);
	if (valid == -ENOMEM || (rc = store_write_job(&c->store, &j))) {
		rc = rc ? rc : -ENOMEM;
		snprintf(err, errlen, "cannot write the job record: %s", strerror(-rc));
		job_clear(&j);
		goto out;
	}
	memcpy(jid, j.id, JOB_ID_LEN + 1);
	pthread_mutex_lock(&c->lock);
	rc = cache_insert(c, &j, now, &cj);
	if (!rc) {
		core_events_add(&ev, CORE_EV_CREATED, &cj->rec);
		if (cj->rec.state == JOB_QUEUED)
			core_queue_push(c, cj);
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		job_clear(&j);
	else
		rc = valid;
out:
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return rc;
}

static int may_touch(const struct job *j, long uid)
{
	return uid == 0 || j->owner_uid < 0 || j->owner_uid == uid ? 0 : -EACCES;
}

int core_cancel(struct core *c, const char *jid, long uid, util_ms now)
{
	struct core_events ev = { 0 };
	struct job next;
	struct cjob *cj;
	bool waiting = false, pending = false;
	int rc = 0;

	pthread_mutex_lock(&c->io_lock);
	pthread_mutex_lock(&c->lock);
	cj = hmap_get(&c->jobs, jid);
	if (!cj)
		rc = -ENOENT;
	else if ((rc = may_touch(&cj->rec, uid)) == 0 && (pending = cj->pending != NULL))
		; /* its run is over: only its record is left to write */
	else if (!rc && cj->running)
		cj->cancel = true; /* the worker ends it within a block */
	else if (!rc && (waiting = cj->in_queue))
		core_queue_remove(c, cj); /* now no worker can take it */
	pthread_mutex_unlock(&c->lock);
	if (pending)
		rc = core_retry_stranded(c, cj, now, &ev);
	if (rc || !waiting)
		goto out;
	if ((rc = core_snapshot(c, cj, &next)) == 0) {
		job_set_state(&next, JOB_ERROR, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		if ((rc = job_set_str(&next.error, "cancelled")) || (rc = core_commit(c, cj, &next)))
			job_clear(&next);
	}
	pthread_mutex_lock(&c->lock);
	if (rc)
		core_queue_push(c, cj); /* not cancelled after all: back in line */
	else
		core_events_add(&ev, CORE_EV_CHANGED, &cj->rec);
	pthread_mutex_unlock(&c->lock);
out:
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return rc;
}

int core_delete(struct core *c, const char *jid, long uid)
{
	struct core_events ev = { 0 };
	struct cjob *cj;
	int rc;

	pthread_mutex_lock(&c->io_lock);
	pthread_mutex_lock(&c->lock);
	cj = hmap_get(&c->jobs, jid);
	rc = !cj ? -ENOENT : may_touch(&cj->rec, uid);
	pthread_mutex_unlock(&c->lock);
	if (!rc)
		core_retry_stranded(c, cj, util_now_ms(), &ev); /* final once written */
	pthread_mutex_lock(&c->lock);
	if (!rc && !job_state_is_final(cj->rec.state))
		rc = -EBUSY;
	pthread_mutex_unlock(&c->lock);
	if (!rc)
		rc = store_delete_job(&c->store, &cj->rec, cj->rec.state == JOB_COMPLETE);
	if (!rc) {
		pthread_mutex_lock(&c->lock);
		core_events_add(&ev, CORE_EV_DELETED, &cj->rec);
		cache_remove(c, cj);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return rc;
}

/* ---- reads ---- */

int core_job_get(struct core *c, const char *jid, struct job *out)
{
	struct cjob *cj;
	int rc;

	pthread_mutex_lock(&c->lock);
	cj = hmap_get(&c->jobs, jid);
	rc = cj ? job_copy(out, &cj->rec) : -ENOENT;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int core_job_state(struct core *c, const char *jid, enum job_state *state,
		   int *progress, char sid[JOB_SESSION_MAX + 1])
{
	struct cjob *cj;

	pthread_mutex_lock(&c->lock);
	cj = hmap_get(&c->jobs, jid);
	if (cj) {
		if (state)
			*state = cj->rec.state;
		if (progress)
			*progress = cj->rec.progress;
		if (sid)
			memcpy(sid, cj->rec.session, sizeof(cj->rec.session));
	}
	pthread_mutex_unlock(&c->lock);
	return cj ? 0 : -ENOENT;
}

int core_job_brief(struct core *c, const char *jid, struct core_job_brief *out)
{
	struct cjob *cj;

	pthread_mutex_lock(&c->lock);
	cj = hmap_get(&c->jobs, jid);
	if (cj) {
		out->state = cj->rec.state;
		out->progress = cj->rec.progress;
		memcpy(out->sid, cj->rec.session, sizeof(out->sid));
		out->owner_uid = cj->rec.owner_uid;
		out->created_at = cj->rec.created_at;
		out->updated_at = cj->rec.updated_at;
	}
	pthread_mutex_unlock(&c->lock);
	return cj ? 0 : -ENOENT;
}

int core_session_jobs(struct core *c, const char *sid, core_jid **ids, size_t *n)
{
	struct csession *s;
	int rc = 0;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&c->lock);
	s = session_get(c, sid, false);
	if (s && s->n) {
		*ids = malloc(s->n * sizeof(**ids));
		if (!*ids)
			rc = -ENOMEM;
		for (size_t i = 0; *ids && i < s->n; i++)
			memcpy((*ids)[i], s->jobs[i]->rec.id, sizeof(core_jid));
		if (*ids)
			*n = s->n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int core_session_latest(struct core *c, const char *sid, char jid[JOB_ID_LEN + 1])
{
	struct csession *s;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	s = session_get(c, sid, false);
	if (s && s->n) {
		memcpy(jid, s->jobs[s->n - 1]->rec.id, JOB_ID_LEN + 1);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int core_receipt(struct core *c, const char *sid, const char *name, char jid[JOB_ID_LEN + 1])
{
	struct csession *s;
	struct creceipt *r;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	s = session_get(c, sid, false);
	if (s && (r = hmap_get(&s->receipts, name))) {
		memcpy(jid, r->cj->rec.id, JOB_ID_LEN + 1);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int names_add(char ***v, size_t *n, size_t *cap, const char *name)
{
	if (*n == *cap) {
		char **nv = realloc(*v, (*cap = *cap ? *cap * 2 : 16) * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	if (!((*v)[*n] = strdup(name)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct names_ctx {
	char **v;
	size_t n, cap;
	int rc;
};

static void receipt_name(void *ctx, void *val)
{
	struct names_ctx *k = ctx;

	if (!k->rc)
		k->rc = names_add(&k->v, &k->n, &k->cap, ((struct creceipt *)val)->name);
}

int core_receipt_names(struct core *c, const char *sid, char ***names, size_t *n)
{
	struct names_ctx k = { 0 };
	struct csession *s;

	pthread_mutex_lock(&c->lock);
	if ((s = session_get(c, sid, false)))
		hmap_each(&s->receipts, receipt_name, &k);
	pthread_mutex_unlock(&c->lock);
	if (k.rc) {
		names_free(k.v, k.n);
		k.v = NULL;
		k.n = 0;
	}
	*names = k.v;
	*n = k.n;
	return k.rc;
}

int core_session_create(struct core *c, const char *sid, uid_t uid, gid_t gid)
{
	return store_session_create(&c->store, sid, uid, gid);
}

int core_session_owner(struct core *c, const char *sid, uid_t *uid)
{
	return store_session_owner(&c->store, sid, uid);
}

int core_session_list(struct core *c, char ***names, size_t *n)
{
	DIR *d = opendir(c->store.media);
	struct dirent *e;
	size_t cap = 0;
	uid_t owner;
	int rc = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d)) && !rc)
		if (util_valid_session_id(e->d_name) &&
		    store_session_owner(&c->store, e->d_name, &owner) == 0)
			rc = names_add(names, n, &cap, e->d_name);
	closedir(d);
	if (rc) {
		names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rc;
}

const struct store *core_store(struct core *c)
{
	return &c->store;
}

struct stats_ctx {
	size_t by_state[JOB_STATE_COUNT];
};

static void count_state(void *ctx, void *val)
{
	((struct stats_ctx *)ctx)->by_state[((struct cjob *)val)->rec.state]++;
}

char *core_stats_text(struct core *c)
{
	struct stats_ctx s = { { 0 } };
	char iso[UTIL_ISO_MAX] = "never", *buf = NULL;
	size_t len = 0, total;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	pthread_mutex_lock(&c->lock);
	hmap_each(&c->jobs, count_state, &s);
	total = c->jobs.n;
	if (c->last_cleanup_at)
		util_iso_format(c->last_cleanup_at, iso);
	fprintf(f, "jobs: %zu\n", total);
	for (int i = 0; i < JOB_STATE_COUNT; i++)
		fprintf(f, "%s: %zu\n", job_state_name((enum job_state)i), s.by_state[i]);
	fprintf(f, "workers: %u\nworkers_busy: %u\n", c->cfg.workers, c->busy);
	fprintf(f, "last_cleanup_at: %s\nlast_cleanup_deleted: %d\n", iso,
		c->last_cleanup_count);
	pthread_mutex_unlock(&c->lock);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
