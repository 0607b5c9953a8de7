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
	fuse_req_t req;
	char jid[JOB_ID_LEN + 1];
	struct waiter *next;
};

struct poller {
	char jid[JOB_ID_LEN + 1];
	struct fuse_pollhandle *ph;
	struct poller *next;
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct ev_item *ev_head, *ev_tail;	/* protected by ev_lock */
static bool ev_stopping;			/* protected by ev_lock */
static pthread_t ev_thread;
static bool ev_started;
static struct fuse_session *ev_se;

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *waiters;	/* protected by wait_lock */
static struct poller *pollers;	/* protected by wait_lock */

static void ev_push(struct ev_item *it)
{
	pthread_mutex_lock(&ev_lock);
	if (ev_tail)
		ev_tail->next = it;
	else
		ev_head = it;
	ev_tail = it;
	pthread_cond_signal(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

void events_listener(void *ctx, enum core_event ev, const char *sid, const char *jid)
{
	struct ev_item *it = calloc(1, sizeof(*it));

	(void)ctx;
	if (!it)
		return; /* the kernel's short timeouts catch up */
	it->ev = ev;
	snprintf(it->sid, sizeof(it->sid), "%s", sid);
	snprintf(it->jid, sizeof(it->jid), "%s", jid);
	ev_push(it);
}

/* Take @w out of the list; true when it was there (then we answer it). */
static bool waiter_take(struct waiter *w)
{
	bool found = false;

	pthread_mutex_lock(&wait_lock);
	for (struct waiter **p = &waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			found = true;
			break;
		}
	pthread_mutex_unlock(&wait_lock);
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

void events_wait(struct core *c, fuse_req_t req, const char *jid)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->req = req;
	snprintf(w->jid, sizeof(w->jid), "%s", jid);
	pthread_mutex_lock(&wait_lock);
	w->next = waiters;
	waiters = w;
	pthread_mutex_unlock(&wait_lock);
	/* may call wait_interrupted at once if the request already was */
	fuse_req_interrupt_func(req, wait_interrupted, w);
	/* the job may have settled before we were listed */
	if (job_settled(c, jid) && waiter_take(w))
		waiter_answer(c, w);
}

void events_poll(const char *jid, struct fuse_pollhandle *ph)
{
	struct poller *p = calloc(1, sizeof(*p));

	if (!p) {
		fuse_pollhandle_destroy(ph);
		return;
	}
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	p->ph = ph;
	pthread_mutex_lock(&wait_lock);
	p->next = pollers;
	pollers = p;
	pthread_mutex_unlock(&wait_lock);
}

static void wake_job(struct core *c, const char *jid)
{
	struct waiter *ready = NULL, **wp;
	struct poller *fired = NULL, **pp;
	bool settled = job_settled(c, jid);

	pthread_mutex_lock(&wait_lock);
	for (wp = &waiters; settled && *wp;) {
		struct waiter *w = *wp;

		if (strcmp(w->jid, jid) == 0) {
			*wp = w->next;
			w->next = ready;
			ready = w;
		} else {
			wp = &w->next;
		}
	}
	for (pp = &pollers; *pp;) {
		struct poller *p = *pp;

		if (strcmp(p->jid, jid) == 0) {
			*pp = p->next;
			p->next = fired;
			fired = p;
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&wait_lock);
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

static void forget_job_names(const struct ev_item *it)
{
	fuse_ino_t dir = nodes_ino_of(&fs.nodes, N_SESSION_JOBS, it->sid, NULL, NULL, 0);

	if (dir)
		fuse_lowlevel_notify_inval_entry(ev_se, dir, it->jid, strlen(it->jid));
	fuse_lowlevel_notify_inval_entry(ev_se, FS_INO_JOBS, it->jid, strlen(it->jid));
}

/* A job completed: the session's final_mix.wav may be a new file now. */
static void forget_session_mix(const struct ev_item *it)
{
	struct core_job_brief b;
	fuse_ino_t ino;

	if (core_job_brief(fs.core, it->jid, &b) || b.state != JOB_COMPLETE)
		return;
	if ((ino = nodes_ino_of(&fs.nodes, N_SESSION_FINAL, it->sid, NULL, NULL, 0)))
		fuse_lowlevel_notify_inval_inode(ev_se, ino, 0, 0);
}

static void ev_handle(struct ev_item *it)
{
	if (it->ev == CORE_EV_DELETED)
		forget_job_names(it);
	if (it->ev == CORE_EV_CHANGED)
		forget_session_mix(it);
	if (it->ev != CORE_EV_CREATED)
		wake_job(fs.core, it->jid);
}

static void *ev_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct ev_item *it;

		pthread_mutex_lock(&ev_lock);
		while (!ev_head && !ev_stopping)
			pthread_cond_wait(&ev_cond, &ev_lock);
		it = ev_head;
		if (it) {
			ev_head = it->next;
			if (!ev_head)
				ev_tail = NULL;
		}
		pthread_mutex_unlock(&ev_lock);
		if (!it)
			return NULL;
		ev_handle(it);
		free(it);
	}
}

void events_init(struct fuse_session *se)
{
	ev_se = se;
	ev_stopping = false;
	ev_started = pthread_create(&ev_thread, NULL, ev_main, NULL) == 0;
}

void events_stop(void)
{
	pthread_mutex_lock(&ev_lock);
	ev_stopping = true;
	pthread_cond_signal(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
	if (ev_started)
		pthread_join(ev_thread, NULL);
	ev_started = false;
	pthread_mutex_lock(&wait_lock);
	while (waiters) {
		struct waiter *w = waiters;

		waiters = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	while (pollers) {
		struct poller *p = pollers;

		pollers = p->next;
		fuse_pollhandle_destroy(p->ph);
		free(p);
	}
	pthread_mutex_unlock(&wait_lock);
	while (ev_head) {
		struct ev_item *it = ev_head;

		ev_head = it->next;
		free(it);
	}
	ev_tail = NULL;
}
