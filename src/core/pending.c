/*
 * pending.c - final records a worker could not write (a full disk, a
 * folder moved away): kept as the job's pending record, shown as what the
 * disk holds until written, and retried by the housekeeper, a cancel or a
 * delete. A job whose session is gone leaves the cache.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_impl.h"
#include "mixfs/log.h"

/* ---- records that could not be written ---- */

#define STRAND_LOG_MS (60 * 1000)

void core_strand(struct core *c, struct cjob *cj, struct job *next)
{
	struct job *p = malloc(sizeof(*p));

	if (!p) {
		/* the disk still holds the active record: the next mount reruns it */
		log_error("job %s: out of memory; its final record is lost until restart", next->id);
		job_clear(next);
		return;
	}
	*p = *next;
	memset(next, 0, sizeof(*next));
	pthread_mutex_lock(&c->lock);
	if (!cj->pending &&
	    util_grow((void **)&c->stranded, &c->cap_stranded, c->n_stranded, sizeof(*c->stranded))) {
		pthread_mutex_unlock(&c->lock);
		log_error("job %s: out of memory; its final record is lost until restart", p->id);
		job_clear(p);
		free(p);
		return;
	}
	if (cj->pending) { /* a newer final record replaces the older one */
		job_clear(cj->pending);
		free(cj->pending);
	} else {
		c->stranded[c->n_stranded++] = cj;
	}
	cj->pending = p;
	cj->running = false; /* its run is over; only the record is left */
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

/* Write @cj's pending record. Caller holds io_lock. */
static int retry_one(struct core *c, struct cjob *cj, util_ms now, struct core_events *ev)
{
	struct job next;
	int64_t rev;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = job_copy(&next, cj->pending);
	pthread_mutex_unlock(&c->lock);
	if (rc)
		return rc;
	rc = c->records->update(c, cj, &next, &rev);
	if (rc == -ESTALE) {
		/* a newer attempt owns the row now: its truth replaces ours */
		log_warn("job %s: its final record lost to a newer attempt; dropped", next.id);
		job_clear(&next);
		pthread_mutex_lock(&c->lock);
		unstrand(c, cj);
		pthread_mutex_unlock(&c->lock);
		cluster_refresh(c, cj, ev);
		return 0;
	}
	if (rc && session_gone(c, next.session)) {
		/* the disk holds no such job any more: neither does the tree */
		log_warn("job %s: its session %s was removed; the job goes with it", next.id,
			 next.session);
		job_clear(&next);
		pthread_mutex_lock(&c->lock);
		unstrand(c, cj);
		core_events_add(ev, CORE_EV_DELETED, &cj->rec);
		core_cache_remove(c, cj);
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
	cj->rev = rev;
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
