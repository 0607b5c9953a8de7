/*
 * events.c - one notifier thread between the job manager and the kernel.
 *
 * The core tells every change through its listener, from whatever thread
 * made it, possibly a FUSE handler; notifying the kernel from there can
 * deadlock, so the listener only queues. The notifier thread then:
 *   - answers deferred reads of `wait` once their job is final (or gone),
 *   - wakes poll() on `state`,
 *   - drops the kernel's names for deleted jobs, so `ls` and `stat` stop
 *     showing them at once.
 * A deferred `wait` holds no FUSE thread, so fifty of them cost nothing;
 * Ctrl-C reaches it through FUSE_INTERRUPT and is answered EINTR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_impl.h"

struct ev_item {
	enum core_event ev;
	char sid[JOB_SESSION_MAX + 1];
	char jid[JOB_ID_LEN + 1];
	struct ev_item *next;
};

struct waiter {
	struct fs_events *events;	/* whose list it is on */
	fuse_req_t req;
	char jid[JOB_ID_LEN + 1];
	struct waiter *next;
};

struct poller {
	char jid[JOB_ID_LEN + 1];
	struct fuse_pollhandle *ph;
	struct poller *next;
};

static void ev_push(struct fs_events *e, struct ev_item *it)
{
	pthread_mutex_lock(&e->lock);
	if (e->tail)
		e->tail->next = it;
	else
		e->head = it;
	e->tail = it;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void events_listener(void *ctx, enum core_event ev, const char *sid, const char *jid)
{
	struct mixfs_fs *fs = ctx;
	struct ev_item *it = calloc(1, sizeof(*it));

	if (!it)
		return; /* the kernel's short timeouts catch up */
	it->ev = ev;
	snprintf(it->sid, sizeof(it->sid), "%s", sid);
	snprintf(it->jid, sizeof(it->jid), "%s", jid);
	ev_push(&fs->events, it);
}

/* Take @w out of the list; true when it was there (then we answer it). */
static bool waiter_take(struct waiter *w)
{
	struct fs_events *e = w->events;
	bool found = false;

	pthread_mutex_lock(&e->wait_lock);
	for (struct waiter **p = &e->waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			found = true;
			break;
		}
	pthread_mutex_unlock(&e->wait_lock);
	return found;
}

static void wait_interrupted(fuse_req_t req, void *data)
{
	struct waiter *w = data;

	(void)req;
	if (!waiter_take(w))
		return;
	fuse_reply_err(w->req, EINTR);
	free(w);
}

static void waiter_answer(struct core *c, struct waiter *w)
{
	enum job_state st;
	char line[32];

	if (core_job_state(c, w->jid, &st, NULL, NULL)) {
		fuse_reply_err(w->req, ENOENT);
	} else {
		snprintf(line, sizeof(line), "%s\n", job_state_name(st));
		fuse_reply_buf(w->req, line, strlen(line));
	}
	free(w);
}

static bool job_settled(struct core *c, const char *jid)
{
	enum job_state st;

	return core_job_state(c, jid, &st, NULL, NULL) != 0 || job_state_is_final(st);
}

void events_wait(struct mixfs_fs *fs, fuse_req_t req, const char *jid)
{
	struct fs_events *e = &fs->events;
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->events = e;
	w->req = req;
	snprintf(w->jid, sizeof(w->jid), "%s", jid);
	pthread_mutex_lock(&e->wait_lock);
	w->next = e->waiters;
	e->waiters = w;
	pthread_mutex_unlock(&e->wait_lock);
	/* may call wait_interrupted at once if the request already was */
	fuse_req_interrupt_func(req, wait_interrupted, w);
	/* the job may have settled before we were listed */
	if (job_settled(fs->core, jid) && waiter_take(w))
		waiter_answer(fs->core, w);
}

void events_poll(struct mixfs_fs *fs, const char *jid, struct fuse_pollhandle *ph)
{
	struct fs_events *e = &fs->events;
	struct poller *p = calloc(1, sizeof(*p));

	if (!p) {
		fuse_pollhandle_destroy(ph);
		return;
	}
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	p->ph = ph;
	pthread_mutex_lock(&e->wait_lock);
	p->next = e->pollers;
	e->pollers = p;
	pthread_mutex_unlock(&e->wait_lock);
}

static void wake_job(struct mixfs_fs *fs, const char *jid)
{
	struct fs_events *e = &fs->events;
	struct core *c = fs->core;
	struct waiter *ready = NULL, **wp;
	struct poller *fired = NULL, **pp;
	bool settled = job_settled(c, jid);

	pthread_mutex_lock(&e->wait_lock);
	for (wp = &e->waiters; settled && *wp;) {
		struct waiter *w = *wp;

		if (strcmp(w->jid, jid) == 0) {
			*wp = w->next;
			w->next = ready;
			ready = w;
		} else {
			wp = &w->next;
		}
	}
	for (pp = &e->pollers; *pp;) {
		struct poller *p = *pp;

		if (strcmp(p->jid, jid) == 0) {
			*pp = p->next;
			p->next = fired;
			fired = p;
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&e->wait_lock);
	while (ready) {
		struct waiter *next = ready->next;

		waiter_answer(c, ready);
		ready = next;
	}
	while (fired) {
		struct poller *next = fired->next;

		fuse_lowlevel_notify_poll(fired->ph);
		fuse_pollhandle_destroy(fired->ph);
		free(fired);
		fired = next;
	}
}

static void forget_job_names(struct mixfs_fs *fs, const struct ev_item *it)
{
	fuse_ino_t dir = nodes_ino_of(&fs->nodes, N_SESSION_JOBS, it->sid, NULL, NULL, 0);

	if (dir)
		fuse_lowlevel_notify_inval_entry(fs->se, dir, it->jid, strlen(it->jid));
	fuse_lowlevel_notify_inval_entry(fs->se, FS_INO_JOBS, it->jid, strlen(it->jid));
}

/* A job completed: the session's final_mix.wav may be a new file now. */
static void forget_session_mix(struct mixfs_fs *fs, const struct ev_item *it)
{
	struct core_job_brief b;
	fuse_ino_t ino;

	if (core_job_brief(fs->core, it->jid, &b) || b.state != JOB_COMPLETE)
		return;
	if ((ino = nodes_ino_of(&fs->nodes, N_SESSION_FINAL, it->sid, NULL, NULL, 0)))
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* A job changed: the pages and sizes the kernel keeps of its text files
 * go, so that even an open file's next read, and `ls -l`, see the change
 * (an open checks the text anyway: files.c). Done before waiters and
 * pollers hear of the change. */
static void forget_job_texts(struct mixfs_fs *fs, const struct ev_item *it)
{
	static const enum job_file texts[] = { JF_STATE, JF_PROGRESS, JF_JOB_JSON,
						JF_REQUEST_JSON, JF_ERROR, JF_LOG };

	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
		fuse_ino_t ino = nodes_ino_of(&fs->nodes, N_JOB_FILE, it->sid, it->jid, NULL, texts[i]);

		if (ino)
			fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	}
}

static void ev_handle(struct mixfs_fs *fs, struct ev_item *it)
{
	if (it->ev == CORE_EV_DELETED)
		forget_job_names(fs, it);
	if (it->ev == CORE_EV_CHANGED) {
		forget_job_texts(fs, it);
		forget_session_mix(fs, it);
	}
	if (it->ev != CORE_EV_CREATED)
		wake_job(fs, it->jid);
}

static void *ev_main(void *arg)
{
	struct mixfs_fs *fs = arg;
	struct fs_events *e = &fs->events;

	for (;;) {
		struct ev_item *it;

		pthread_mutex_lock(&e->lock);
		while (!e->head && !e->stopping)
			pthread_cond_wait(&e->cond, &e->lock);
		it = e->head;
		if (it) {
			e->head = it->next;
			if (!e->head)
				e->tail = NULL;
		}
		pthread_mutex_unlock(&e->lock);
		if (!it)
			return NULL;
		ev_handle(fs, it);
		free(it);
	}
}

int events_init(struct mixfs_fs *fs)
{
	struct fs_events *e = &fs->events;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = pthread_mutex_init(&e->lock, NULL)))
		return -rc;
	if ((rc = pthread_mutex_init(&e->wait_lock, NULL))) {
		pthread_mutex_destroy(&e->lock);
		return -rc;
	}
	if ((rc = pthread_cond_init(&e->cond, NULL)) ||
	    (rc = pthread_create(&e->thread, NULL, ev_main, fs))) {
		events_release(fs);
		return -rc;
	}
	e->started = true;
	return 0;
}

void events_stop(struct mixfs_fs *fs)
{
	struct fs_events *e = &fs->events;

	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->started)
		pthread_join(e->thread, NULL);
	e->started = false;
	pthread_mutex_lock(&e->wait_lock);
	while (e->waiters) {
		struct waiter *w = e->waiters;

		e->waiters = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	while (e->pollers) {
		struct poller *p = e->pollers;

		e->pollers = p->next;
		fuse_pollhandle_destroy(p->ph);
		free(p);
	}
	pthread_mutex_unlock(&e->wait_lock);
	while (e->head) {
		struct ev_item *it = e->head;

		e->head = it->next;
		free(it);
	}
	e->tail = NULL;
}

void events_release(struct mixfs_fs *fs)
{
	struct fs_events *e = &fs->events;

	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->wait_lock);
	pthread_mutex_destroy(&e->lock);
}
