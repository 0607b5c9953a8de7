/*
 * workers.c - the worker threads: each takes the oldest queued job, runs
 * it through the audio engine, and records every stage.
 *
 * Writes to a running job's record happen on each state change (and its
 * log line), and for progress at most once a second; progress itself
 * changes in the cache on every tick, so the tree is always current.
 * A cancel (or shutdown) sets a flag the engine polls between blocks.
 * On shutdown a running job goes back to queued on disk, so the next
 * mount runs it again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_impl.h"
#include "mixfs/log.h"
#include "mixfs/mix.h"
#include "mixfs/request.h"

#define PROGRESS_WRITE_MS 1000

/* One job's run, on its worker's thread. The job's id and session never
 * change once made, so the worker reads them without the lock. */
struct run {
	struct core *c;
	struct cjob *cj;
	util_ms last_write;
	util_ms started;
	int write_rc;	/* a stage's record could not be written: stop */
	bool lost;	/* another host took the job: stop, write nothing */
	bool released;	/* a final record (written or pending) let go of the job:
			 * after run_change() returns, the job is no longer ours */
};

void core_log_append(struct job *j, util_ms now, const char *line)
{
	char iso[UTIL_ISO_MAX], *next;

	util_iso_format(now, iso);
	if (asprintf(&next, "%s%s %s\n", j->log ? j->log : "", iso, line) < 0) {
		log_warn("job %s: out of memory; log line lost: %s", j->id, line);
		return;
	}
	free(j->log);
	j->log = next;
}

/* A change to a running job's record, made on a copy; 0 or -ENOMEM. */
typedef int (*run_edit_fn)(struct job *next, util_ms now, const void *arg);

/*
 * Apply @edit to the job's record: on disk first, then the cache. When the
 * write fails the cache keeps what the disk holds, and the run reacts by
 * what was lost: a final record is kept pending for the housekeeper; a
 * stage change stops the run (it could not be shown), except that with a
 * database out of reach the run goes on while its lease holds (SPEC 9); a
 * progress write is only logged (the next one carries it). A write fenced
 * by another host's newer attempt stops the run and writes nothing more.
 */
static int run_change(struct run *r, run_edit_fn edit, const void *arg)
{
	struct core *c = r->c;
	struct core_events ev = { 0 };
	enum job_state from;
	struct job next;
	util_ms now = core_clock(c);
	bool final;
	int rc;

	if (r->lost)
		return -ESTALE;
	pthread_mutex_lock(&c->io_lock);
	if ((rc = core_snapshot(c, r->cj, &next)) == 0) {
		from = next.state;
		rc = edit(&next, now, arg);
		final = job_state_is_final(next.state); /* before commit takes @next */
		if (!rc && (rc = core_commit(c, r->cj, &next)) == 0)
			r->last_write = now;
		else if (rc == -ESTALE)
			r->lost = true;
		else if (rc != -ENOMEM && final)
			core_strand(c, r->cj, &next);
		else if (next.state != from && !r->write_rc && !(c->pg && rc == -EIO))
			r->write_rc = rc; /* a database away: go on while the lease holds */
		/* written or pending, a final record lets go of the job; io_lock
		 * keeps it here until this function returns */
		r->released |= final && rc != -ENOMEM && rc != -ESTALE;
		job_clear(&next);
	}
	if (rc && rc != -ESTALE && !(c->pg && rc == -EIO))
		log_error("job %s: its record could not be updated: %s", r->cj->rec.id,
			  strerror(-rc));
	pthread_mutex_lock(&c->lock);
	core_events_add(&ev, CORE_EV_CHANGED, &r->cj->rec);
	pthread_mutex_unlock(&c->lock);
	core_check(c);
	pthread_mutex_unlock(&c->io_lock);
	core_events_fire(c, &ev);
	return rc;
}

struct state_edit {
	const struct core *c;
	enum job_state to;
	const char *line;
	const char *error;
};

static int edit_state(struct job *next, util_ms now, const void *arg)
{
	const struct state_edit *e = arg;

	if (e->to != next->state) {
		if (!job_transition_allowed(next->state, e->to))
			return -EINVAL; /* never expected: a worker owns its job */
		job_set_state(next, e->to, now, e->c->cfg.ttls.complete, e->c->cfg.ttls.failed);
	}
	if (e->line)
		core_log_append(next, now, e->line);
	return e->error ? job_set_str(&next->error, e->error) : 0;
}

static int run_update(struct run *r, enum job_state to, const char *line, const char *error)
{
	struct state_edit e = { r->c, to, line, error };

	return run_change(r, edit_state, &e);
}

static void cb_stage(void *ctx, enum mix_stage stage)
{
	struct run *r = ctx;
	enum job_state st = (enum job_state)(JOB_LOADING_STEMS + stage);

	/* read without the lock: a running job's state is written only by this
	 * thread (its commits), and cancel only sets a flag; the reader's own
	 * writes are never torn for it */
	if (r->cj->rec.state != st)
		run_update(r, st, mix_stage_name(stage), NULL);
}

static void cb_progress(void *ctx, int percent)
{
	struct run *r = ctx;
	struct core *c = r->c;
	bool write_now = false;

	pthread_mutex_lock(&c->lock);
	if (percent > r->cj->rec.progress)
		r->cj->rec.progress = percent;
	pthread_mutex_unlock(&c->lock);
	if (core_clock(c) - r->last_write >= PROGRESS_WRITE_MS)
		write_now = true;
	if (write_now)
		run_update(r, r->cj->rec.state, NULL, NULL);
}

/* With a database: is the lease surely still ours? Until a quarter of it
 * before it could run out by the database's clock (it started no later
 * than the write or renewal that was sent at lease_mono - lease). Caller
 * holds lock. */
static bool lease_held(const struct core *c, const struct cjob *cj)
{
	util_ms margin = (util_ms)(c->cfg.lease_s * 250.0);

	return !c->pg || (!cj->lost && util_mono_ms() < cj->lease_mono - margin);
}

static bool cb_cancelled(void *ctx)
{
	struct run *r = ctx;
	bool stop, held;

	pthread_mutex_lock(&r->c->lock);
	stop = r->cj->cancel || r->c->stopping;
	held = lease_held(r->c, r->cj);
	pthread_mutex_unlock(&r->c->lock);
	if (!held && !r->lost) {
		log_warn("job %s: its lease could not be kept; stopping before it runs out",
			 r->cj->rec.id);
		r->lost = true;
	}
	return stop || r->write_rc || r->lost;
}

static void cb_log(void *ctx, const char *line)
{
	struct run *r = ctx;

	/* kept in the cache now, on disk with the next write */
	pthread_mutex_lock(&r->c->lock);
	core_log_append(&r->cj->rec, core_clock(r->c), line);
	pthread_mutex_unlock(&r->c->lock);
}

static void result_from_mix(struct job_result *out, const struct mix_result *m)
{
	out->present = true;
	out->duration_s = m->duration_s;
	out->sample_rate = m->sample_rate;
	out->channels = m->channels;
	out->integrated_lufs = m->integrated_lufs;
	out->true_peak_dbtp = m->true_peak_dbtp;
	out->gain_db = m->gain_db;
	out->loudness_range_lu = m->loudness_range_lu;
	out->max_gain_reduction_db = m->max_gain_reduction_db;
	out->target_missed_lu = m->target_missed_lu;
	out->n_offsets = m->n_stems < JOB_MAX_OFFSETS ? m->n_stems : JOB_MAX_OFFSETS;
	memcpy(out->offsets_ms, m->offsets_ms, out->n_offsets * sizeof(double));
}

struct complete_edit {
	const struct run *r;
	const char *output;
	const struct mix_result *m;
};

static int edit_complete(struct job *next, util_ms now, const void *arg)
{
	const struct complete_edit *e = arg;
	const struct core *c = e->r->c;
	char line[128];

	/* with a database out of reach a stage's write may have been lost:
	 * the record then goes through the stages it missed at once */
	if (job_state_is_active(next->state) && next->state < JOB_EXPORTING)
		job_set_state(next, JOB_EXPORTING, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
	if (!job_transition_allowed(next->state, JOB_COMPLETE))
		return -EINVAL; /* never expected: the stages ran in order */
	job_set_state(next, JOB_COMPLETE, now, c->cfg.ttls.complete, c->cfg.ttls.failed);
	next->progress = 100;
	result_from_mix(&next->result, e->m);
	snprintf(line, sizeof(line), "complete in %.2f s: %.2f LUFS, %.2f dBTP",
		 (double)(now - e->r->started) / 1000.0, e->m->integrated_lufs,
		 e->m->true_peak_dbtp);
	core_log_append(next, now, line);
	return job_set_str(&next->output, e->output);
}

/* The job's mix is in place: publish it, then record it complete. */
static int run_complete(struct run *r, const char *output, const struct mix_result *m)
{
	struct complete_edit e = { r, output, m };
	int rc = store_publish_final(&r->c->store, r->cj->rec.session, r->cj->rec.id);

	if (rc)
		log_error("job %s: cannot publish final_mix.wav: %s", r->cj->rec.id, strerror(-rc));
	return run_change(r, edit_complete, &e);
}

/* A render that stopped: shutdown requeues, cancel and failure end it. */
static void run_failed(struct run *r, int rc, const char *err)
{
	bool stopping, cancelled;

	if (r->lost)
		return; /* the row is another attempt's now */
	if (r->write_rc) {
		char why[160];

		snprintf(why, sizeof(why), "cannot write the job's record: %s",
			 strerror(-r->write_rc));
		log_warn("job %s failed: %s", r->cj->rec.id, why);
		run_update(r, JOB_ERROR, why, why);
		return;
	}
	pthread_mutex_lock(&r->c->lock);
	stopping = r->c->stopping;
	cancelled = r->cj->cancel;
	r->cj->rec.progress = stopping && !cancelled ? 0 : r->cj->rec.progress;
	pthread_mutex_unlock(&r->c->lock);
	if (rc == -ECANCELED && stopping && !cancelled) {
		run_update(r, JOB_QUEUED, "interrupted by shutdown; queued again", NULL);
		return;
	}
	if (rc == -ECANCELED) {
		run_update(r, JOB_ERROR, "cancelled", "cancelled");
		return;
	}
	log_warn("job %s failed: %s", r->cj->rec.id, err);
	run_update(r, JOB_ERROR, err, err);
}

/* Where a job reads and writes: its session's stems/ and its outputs
 * folder, both opened with no symlink on the way. */
struct run_dirs {
	int stems_fd;
	int out_fd;
	char out_name[JOB_ID_LEN + 32];
	char out_path[STORE_PATH_MAX];
};

static int run_dirs_open(struct core *c, const struct job *j, struct run_dirs *d, char *err,
			 size_t errlen)
{
	int rc;

	d->stems_fd = d->out_fd = -1;
	/* with a database, each attempt renders under its own name and
	 * publishes only while its lease holds (run_publish) */
	if (c->pg)
		snprintf(d->out_name, sizeof(d->out_name), ".%s.attempt%d.wav", j->id, j->attempts);
	else
		snprintf(d->out_name, sizeof(d->out_name), "%s.wav", j->id);
	if ((rc = store_output_path(&c->store, j->session, j->id, d->out_path)))
		return rc;
	if ((d->stems_fd = store_stems_dirfd(&c->store, j->session)) < 0) {
		rc = d->stems_fd;
		snprintf(err, errlen, "stems/: %s", rc == -ELOOP || rc == -EXDEV
			 ? "a symlink is in the way; refused" : strerror(-rc));
		return rc == -ELOOP || rc == -EXDEV ? -EINVAL : rc;
	}
	rc = store_output_dir(&c->store, j->session);
	if (!rc && c->pg && j->attempts > 1) /* an earlier attempt's host may have died */
		store_sweep_attempts(&c->store, j->session, j->id);
	if (!rc && (d->out_fd = store_output_dirfd(&c->store, j->session, true)) < 0)
		rc = d->out_fd;
	if (rc)
		snprintf(err, errlen, "cannot prepare the outputs folder: %s", strerror(-rc));
	return rc;
}

static void run_dirs_close(struct run_dirs *d)
{
	if (d->stems_fd >= 0)
		close(d->stems_fd);
	if (d->out_fd >= 0)
		close(d->out_fd);
}

/*
 * With a database the attempt's mix is renamed into its place only while
 * the lease surely holds: no other host can have taken the job, so no
 * newer attempt's output is replaced. A lost lease discards it.
 */
static int run_publish(struct core *c, struct run *r, struct run_dirs *d)
{
	char name[JOB_ID_LEN + 8];
	bool held;

	if (!c->pg)
		return 0;
	snprintf(name, sizeof(name), "%s.wav", r->cj->rec.id);
	pthread_mutex_lock(&c->lock);
	held = lease_held(c, r->cj);
	if (held && renameat(d->out_fd, d->out_name, d->out_fd, name) < 0)
		held = false;
	pthread_mutex_unlock(&c->lock);
	if (held)
		return 0;
	unlinkat(d->out_fd, d->out_name, 0);
	if (!r->lost)
		log_warn("job %s: its lease could not be kept; its mix is discarded", r->cj->rec.id);
	r->lost = true;
	return -ECANCELED;
}

static void run_job(struct core *c, struct cjob *cj)
{
	struct run r = { .c = c, .cj = cj, .started = core_clock(c) };
	struct mix_callbacks cb = { cb_stage, cb_progress, cb_cancelled, cb_log, &r };
	struct run_dirs dirs = { -1, -1, "", "" };
	char err[512] = "";
	struct mix_result res;
	struct plan plan;
	char *text;
	int rc;

	pthread_mutex_lock(&c->lock);
	if (!c->pg) /* a claim counted it already */
		cj->rec.attempts++;
	cj->rec.progress = 0;
	text = cj->rec.request_text ? strdup(cj->rec.request_text) : strdup("{}");
	pthread_mutex_unlock(&c->lock);
	rc = text ? request_parse(text, strlen(text), &plan, err, sizeof(err)) : -ENOMEM;
	free(text);
	if (!rc && !(rc = run_dirs_open(c, &cj->rec, &dirs, err, sizeof(err)))) {
		struct mix_target out = { dirs.out_fd, dirs.out_name, dirs.out_path };

		rc = mix_render(&plan, dirs.stems_fd, &out, &cb, &res, err, sizeof(err));
		if (!rc)
			rc = run_publish(c, &r, &dirs);
	}
	run_dirs_close(&dirs);
	plan_clear(&plan);
	if (!rc && r.write_rc) {
		/* the mix got done, but a stage before it never reached the record */
		store_discard_output(&c->store, cj->rec.session, cj->rec.id);
		rc = -ECANCELED;
	}
	if (rc)
		run_failed(&r, rc, err[0] ? err : strerror(-rc));
	else
		run_complete(&r, dirs.out_path, &res);
	if (!r.released) { /* requeued by a shutdown, a write that failed, a lost lease */
		pthread_mutex_lock(&c->lock);
		cj->running = false;
		pthread_mutex_unlock(&c->lock);
	}
	if (r.lost) { /* show the row as the database holds it now */
		struct core_events ev = { 0 };

		pthread_mutex_lock(&c->io_lock);
		pthread_mutex_lock(&c->lock);
		cj->lost = false;
		pthread_mutex_unlock(&c->lock);
		cluster_refresh(c, cj, &ev);
		core_check(c);
		pthread_mutex_unlock(&c->io_lock);
		core_events_fire(c, &ev);
	}
}

/* The oldest queued job of the cluster, claimed; NULL when this host's
 * queue is stale (another host claimed its head) or the database is
 * unreachable: then wait for news of the queue, a second at most. */
static struct cjob *claim(struct core *c)
{
	struct cjob *cj;
	struct timespec until;
	unsigned gen;

	pthread_mutex_lock(&c->lock);
	gen = c->queue_gen;
	pthread_mutex_unlock(&c->lock);
	if ((cj = cluster_claim(c)))
		return cj;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&c->lock);
	while (!c->stopping && c->queue_gen == gen &&
	       pthread_cond_timedwait(&c->work_cond, &c->lock, &until) == 0)
		;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct core_worker *w = arg;
	struct core *c = w->c;

	for (;;) {
		struct cjob *cj;

		pthread_mutex_lock(&c->lock);
		while (!c->stopping && !c->q_head)
			pthread_cond_wait(&c->work_cond, &c->lock);
		if (c->stopping) {
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		if (c->pg) {
			pthread_mutex_unlock(&c->lock);
			if (!(cj = claim(c)))
				continue;
			pthread_mutex_lock(&c->lock);
		} else {
			cj = core_queue_pop(c);
			cj->running = true;
			cj->cancel = false;
		}
		c->busy++;
		memcpy(w->job, cj->rec.id, sizeof(w->job));
		pthread_mutex_unlock(&c->lock);
		run_job(c, cj); /* the job may be gone once it returns */
		pthread_mutex_lock(&c->lock);
		c->busy--;
		w->job[0] = '\0';
		pthread_mutex_unlock(&c->lock);
	}
}

#define RETRY_MS 1000

/* @from plus @ms on the monotonic clock, which setting the wall clock
 * neither delays nor hastens. */
static struct timespec hk_after(const struct timespec *from, util_ms ms)
{
	struct timespec t = *from;

	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static bool hk_due(const struct timespec *now, const struct timespec *t)
{
	return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/*
 * The housekeeper: the interval cleanup pass (with cleanup_interval) and
 * the retry of final records a worker could not write. It waits on its own
 * condition variable: on the workers' one it could swallow a signal meant
 * for an idle worker, and every wake would restart its countdown.
 */
static void *housekeeper_main(void *arg)
{
	struct core *c = arg;
	util_ms interval = (util_ms)(c->cfg.cleanup_interval_s * 1000.0);
	struct timespec now, next_pass, next_retry, until;

	clock_gettime(CLOCK_MONOTONIC, &now);
	next_pass = hk_after(&now, interval > 0 ? interval : 0);
	next_retry = hk_after(&now, RETRY_MS);
	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		bool retry = c->n_stranded > 0;

		until = interval > 0 ? next_pass : hk_after(&now, 3600 * 1000);
		if (retry && !hk_due(&next_retry, &until))
			until = next_retry;
		pthread_cond_timedwait(&c->hk_cond, &c->lock, &until);
		if (c->stopping)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		retry = c->n_stranded > 0 && hk_due(&now, &next_retry);
		pthread_mutex_unlock(&c->lock);
		if (retry) {
			struct core_events ev = { 0 };

			pthread_mutex_lock(&c->io_lock);
			core_retry_stranded(c, NULL, core_clock(c), &ev);
			core_check(c);
			pthread_mutex_unlock(&c->io_lock);
			core_events_fire(c, &ev);
			next_retry = hk_after(&now, RETRY_MS);
		}
		if (interval > 0 && hk_due(&now, &next_pass)) {
			core_cleanup(c, core_clock(c));
			clock_gettime(CLOCK_MONOTONIC, &now);
			next_pass = hk_after(&now, interval);
		}
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int core_workers_start(struct core *c)
{
	int rc;

	c->threads = calloc(c->cfg.workers ? c->cfg.workers : 1, sizeof(*c->threads));
	if (!c->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < c->cfg.workers; i++) {
		c->threads[i].c = c;
		if ((rc = pthread_create(&c->threads[i].id, NULL, worker_main, &c->threads[i])))
			return -rc;
		c->n_threads++;
	}
	if (c->cfg.workers > 0 || c->cfg.cleanup_interval_s > 0) {
		if ((rc = pthread_create(&c->housekeeper, NULL, housekeeper_main, c)))
			return -rc;
		c->housekeeper_started = true;
	}
	return 0;
}

void core_workers_stop(struct core *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->work_cond);
	pthread_cond_broadcast(&c->hk_cond);
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < c->n_threads; i++)
		pthread_join(c->threads[i].id, NULL);
	if (c->housekeeper_started)
		pthread_join(c->housekeeper, NULL);
	/* the sync thread (cluster.c) reads the workers under the lock */
	pthread_mutex_lock(&c->lock);
	free(c->threads);
	c->threads = NULL;
	c->n_threads = 0;
	pthread_mutex_unlock(&c->lock);
	c->housekeeper_started = false;
}
