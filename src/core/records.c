/*
 * records.c - records as files beneath MEDIA_DIR (SPEC section 2), the
 * embedded default: core_file_records. The cleanup pass pops final jobs
 * from an expiry heap (cleanup.h) while the earliest has expired, so a
 * pass with nothing to delete is one peek.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"
#include "mixfs/log.h"

/* A deletion that failed is retried this much later, not in a tight loop. */
#define CLEANUP_RETRY_MS (60 * 1000)

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
		if (util_grow((void **)&v, &cap, n, sizeof(*v)))
			break; /* the rest wait for the next pass */
		cleanup_heap_remove(&c->expiry, cj->heap_pos);
		v[n++] = cj;
	}
	*out = v;
	return n;
}

int core_file_expire(struct core *c, util_ms now, struct core_events *ev)
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
			core_cache_remove(c, cj);
			deleted++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	free(expired);
	cleanup_leftovers(c, now);
	return deleted;
}

/* ---- the operations ---- */

static int file_insert(struct core *c, const struct job *j, int64_t *rev)
{
	struct csession *s;
	bool full;

	pthread_mutex_lock(&c->lock);
	s = core_session_get(c, j->session, false);
	full = c->cfg.max_jobs_per_session && s && s->n >= c->cfg.max_jobs_per_session;
	pthread_mutex_unlock(&c->lock);
	*rev = 0;
	return full ? -EDQUOT : store_write_job(&c->store, j);
}

static int file_update(struct core *c, struct cjob *cj, const struct job *next, int64_t *rev)
{
	(void)cj;
	*rev = 0;
	return store_write_record(&c->store, next);
}

static int file_remove(struct core *c, struct cjob *cj)
{
	return store_delete_job(&c->store, &cj->rec, cj->rec.state == JOB_COMPLETE);
}

const struct core_records core_file_records = {
	.insert = file_insert,
	.update = file_update,
	.expire = core_file_expire,
	.remove = file_remove,
};

