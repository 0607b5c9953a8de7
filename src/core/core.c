/*
 * core.c - submit, cancel, delete, the cleanup pass and the reads. The
 * cache is in cache.c, open and close in open.c, records that could not be
 * written in pending.c. See core.h for the contract and core_impl.h for
 * the locks.
 *
 * The cleanup pass pops final jobs from an expiry heap (cleanup.h) while
 * the earliest has expired, so a pass with nothing to delete is one peek.
 */
#include "mixfs/core.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_impl.h"
#include "mixfs/log.h"
#include "mixfs/pgstore.h"
#include "mixfs/request.h"

/* Caller holds io_lock. */
static int cleanup_locked(struct core *c, util_ms now, struct core_events *ev)
{
	int deleted = c->records->expire(c, now, ev);

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
	core_check(c);
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return n;
}

/* ---- submit, cancel, delete ---- */

/* The job a request makes: queued, or in error holding the text and the
 * message (then -EINVAL, the message also in @err). -ENOMEM. */
static int build_job(struct core *c, const struct core_request *rq, util_ms now, struct job *j,
		     char *err, size_t errlen)
{
	char perr[REQUEST_ERR_MAX];
	struct plan plan;
	int valid = request_parse(rq->text, rq->len, &plan, perr, sizeof(perr));

	if (valid == 0)
		plan_clear(&plan);
	job_init_new(j, rq->sid, now, rq->uid);
	if (job_set_str(&j->request_name, rq->name))
		return -ENOMEM;
	j->request_text = strndup(rq->text, rq->len);
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

int core_submit(struct core *c, const struct core_request *rq, util_ms now,
		char jid[JOB_ID_LEN + 1], char *err, size_t errlen)
{
	const char *sid = rq->sid;
	struct core_events ev = { 0 };
	struct cjob *cj;
	struct job j;
	int64_t rev;
	uid_t owner;
	int rc = 0, valid;

	if (store_session_owner(&c->store, sid, &owner))
		return -ENOENT;
	pthread_mutex_lock(&c->io_lock);
	now = c->pg ? core_clock(c) : now;
	cleanup_locked(c, now, &ev);
	valid = build_job(c, rq, now, &j, err, errlen);
	if (valid == -ENOMEM || (rc = c->records->insert(c, &j, &rev))) {
		rc = rc ? rc : -ENOMEM;
		if (rc == -EDQUOT)
			snprintf(err, errlen, "session %s holds %u jobs, its limit", sid,
				 c->cfg.max_jobs_per_session);
		else if (c->pg && rc == -EPROTO)
			snprintf(err, errlen, "cannot write the job record: %s refused it",
				 pgs_where(c->pg));
		else if (c->pg)
			snprintf(err, errlen, "cannot write the job record: %s unreachable",
				 pgs_where(c->pg));
		else
			snprintf(err, errlen, "cannot write the job record: %s", strerror(-rc));
		rc = rc == -EPROTO ? -EIO : rc;
		job_clear(&j);
		goto out;
	}
	memcpy(jid, j.id, JOB_ID_LEN + 1);
	pthread_mutex_lock(&c->lock);
	rc = core_cache_insert(c, &j, now, false, &cj);
	if (!rc) {
		cj->rev = rev;
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
	core_check(c);
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
	bool waiting = false, pending = false, remote = false;
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
	else if (!rc && c->pg)
		remote = job_state_is_active(cj->rec.state); /* another host runs it */
	pthread_mutex_unlock(&c->lock);
	if (pending)
		rc = core_retry_stranded(c, cj, now, &ev);
	if (remote)
		rc = cluster_cancel_remote(c, cj);
	if (rc || !waiting)
		goto out;
	now = c->pg ? core_clock(c) : now;
	if ((rc = core_snapshot(c, cj, &next)) == 0) {
		job_set_state(&next, JOB_ERROR, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
		if ((rc = job_set_str(&next.error, "cancelled")) || (rc = core_commit(c, cj, &next)))
			job_clear(&next);
	}
	if (rc == -ESTALE) {
		/* another host claimed it meanwhile: ask that host to stop it */
		cluster_refresh(c, cj, &ev);
		rc = cluster_cancel_remote(c, cj);
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	if (rc)
		core_queue_push(c, cj); /* not cancelled after all: back in line */
	else
		core_events_add(&ev, CORE_EV_CHANGED, &cj->rec);
	pthread_mutex_unlock(&c->lock);
out:
	core_check(c);
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
		rc = c->records->remove(c, cj);
	if (!rc) {
		pthread_mutex_lock(&c->lock);
		core_events_add(&ev, CORE_EV_DELETED, &cj->rec);
		core_cache_remove(c, cj);
		pthread_mutex_unlock(&c->lock);
	}
	core_check(c);
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
	s = core_session_get(c, sid, false);
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
	s = core_session_get(c, sid, false);
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
	s = core_session_get(c, sid, false);
	if (s && (r = hmap_get(&s->receipts, name))) {
		memcpy(jid, r->cj->rec.id, JOB_ID_LEN + 1);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int names_add(char ***v, size_t *n, size_t *cap, const char *name)
{
	if (util_grow((void **)v, cap, *n, sizeof(**v)))
		return -ENOMEM;
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
	if ((s = core_session_get(c, sid, false)))
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
	if (c->pg)
		fprintf(f, "host: %s\ndatabase: %s\ndatabase_statements: %" PRIu64 "\n",
			pgs_host(c->pg), pgs_where(c->pg), pgs_statements(c->pg));
	pthread_mutex_unlock(&c->lock);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
