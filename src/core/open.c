/*
 * open.c - opening and closing the job manager: load every record, repair
 * the index from them, track the files of unreadable or vanished records,
 * requeue (or fail) what a crash left active, and free it all at close.
 */
#include "mixfs/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_impl.h"
#include "mixfs/log.h"


/* ---- open: load and recover ---- */

struct load_ctx {
	struct core *c;
	util_ms now;
	struct cjob **active;	/* found active: recover after load */
	size_t n_active, cap_active;
};

static void leftover_add(struct core *c, enum store_root root, const char *rel, util_ms expiry)
{
	if (util_grow((void **)&c->leftover, &c->cap_leftover, c->n_leftover,
		      sizeof(*c->leftover)))
		return;
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
	if (core_cache_insert(l->c, j, l->now, true, &cj)) {
		log_error("job %s: out of memory while loading", id);
		job_clear(j);
		return;
	}
	if (!job_state_is_active(cj->rec.state))
		return;
	if (util_grow((void **)&l->active, &l->cap_active, l->n_active, sizeof(*l->active)))
		return;
	l->active[l->n_active++] = cj;
}


static void sort_session(void *ctx, void *val)
{
	struct csession *s = val;

	(void)ctx;
	if (s->n)
		qsort(s->jobs, s->n, sizeof(*s->jobs), core_by_created);
	for (size_t i = 0; i < s->n; i++)
		s->jobs[i]->sess_pos = i;
}

/* A job found active at open was running when the daemon died (or was
 * queued). Requeue it, or fail it once it has started CORE_MAX_ATTEMPTS times. */
static void recover_job(struct core *c, struct cjob *cj, util_ms now)
{
	struct job next;

	if (cj->rec.state == JOB_QUEUED) {
		core_queue_push(c, cj);
		return;
	}
	if (job_copy(&next, &cj->rec))
		return;
	if (next.attempts >= CORE_MAX_ATTEMPTS) {
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

struct rewrite_ctx {
	struct core *c;
	size_t written, failed;
};

static void index_rewrite(void *ctx, void *val)
{
	struct rewrite_ctx *k = ctx;
	struct cjob *cj = val;
	int rc;

	if (cj->indexed)
		return;
	if ((rc = store_repair_index(&k->c->store, &cj->rec))) {
		if (!k->failed++)
			log_error("job %s: its index file is missing and cannot be written: %s",
				  cj->rec.id, strerror(-rc));
	} else {
		k->written++;
	}
}

/* The record is the truth: index files follow it, both ways. */
static void repair_index(struct core *c, util_ms now)
{
	struct index_ctx k = { c, now };
	struct rewrite_ctx w = { c, 0, 0 };
	int rc = store_each_index(&c->store, index_seen, &k);

	if (rc) {
		log_error("%s/jobs_index: cannot read: %s", c->store.media, strerror(-rc));
		return;
	}
	hmap_each(&c->jobs, index_rewrite, &w);
	if (w.written && (rc = store_sync_index(&c->store)))
		log_error("%s/jobs_index: cannot sync: %s", c->store.media, strerror(-rc));
	if (w.written)
		log_info("%zu missing index file%s written again from the records", w.written,
			 w.written == 1 ? "" : "s");
	if (w.failed > 1)
		log_error("%zu index files could not be written", w.failed);
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
		qsort(l.active, l.n_active, sizeof(*l.active), core_by_created);
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
	c->records = &core_file_records;
	rc = cfg->database ? store_open_shared(&c->store, cfg->media_dir, cfg->outputs_dir, err, errlen)
			   : store_open(&c->store, cfg->media_dir, cfg->outputs_dir, err, errlen);
	if (rc) {
		free(c);
		return rc;
	}
	if (cfg->database) {
		if ((rc = cluster_open(c, now, err, errlen))) {
			core_close(c);
			return rc;
		}
		now = core_clock(c);
	} else if ((rc = core_load(c, now))) {
		snprintf(err, errlen, "cannot read %s: %s", cfg->media_dir, strerror(-rc));
		core_close(c);
		return rc;
	}
	core_cleanup(c, now);
	core_check(c);
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
	int rc = core_workers_start(c);

	return rc || !c->pg ? rc : cluster_start(c);
}

void core_stop(struct core *c)
{
	core_workers_stop(c); /* sets stopping, which ends the sync thread too */
	if (c->pg)
		cluster_stop(c);
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
	if (c->pg)
		cluster_close(c);
	store_close(&c->store);
	pthread_cond_destroy(&c->work_cond);
	pthread_cond_destroy(&c->hk_cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->io_lock);
	free(c);
}
