/* stage.c - see audio_impl.h: a bounded queue of blocks to one consumer. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "audio_impl.h"

struct stage {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	float *buf[STAGE_SLOTS];
	long len[STAGE_SLOTS];	/* protected by lock */
	int head, count;	/* protected by lock: queued blocks from head */
	bool done;		/* protected by lock: no more blocks */
	int rc;			/* protected by lock: the consumer's error */
	stage_fn fn;
	void *ctx;
};

static void *stage_main(void *arg)
{
	struct stage *s = arg;
	FPU_FAST_ENTER();

	pthread_mutex_lock(&s->lock);
	for (;;) {
		int slot, rc;

		while (!s->count && !s->done)
			pthread_cond_wait(&s->changed, &s->lock);
		if (!s->count)
			break;
		slot = s->head;
		pthread_mutex_unlock(&s->lock);
		rc = s->rc ? 0 : s->fn(s->ctx, s->buf[slot], s->len[slot]);
		pthread_mutex_lock(&s->lock);
		if (rc && !s->rc)
			s->rc = rc;
		s->head = (s->head + 1) % STAGE_SLOTS;
		s->count--;
		pthread_cond_broadcast(&s->changed);
	}
	pthread_mutex_unlock(&s->lock);
	FPU_FAST_LEAVE();
	return NULL;
}

static void stage_free(struct stage *s)
{
	for (int i = 0; i < STAGE_SLOTS; i++)
		free(s->buf[i]);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int stage_start(struct stage **out, long frames, stage_fn fn, void *ctx)
{
	struct stage *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	s->fn = fn;
	s->ctx = ctx;
	for (int i = 0; i < STAGE_SLOTS; i++)
		if (!(s->buf[i] = malloc(sizeof(float) * 2 * (size_t)frames))) {
			stage_free(s);
			return -ENOMEM;
		}
	if ((rc = pthread_create(&s->thread, NULL, stage_main, s))) {
		stage_free(s);
		return -rc;
	}
	*out = s;
	return 0;
}

float *stage_slot(struct stage *s)
{
	float *b;

	pthread_mutex_lock(&s->lock);
	while (s->count == STAGE_SLOTS && !s->rc)
		pthread_cond_wait(&s->changed, &s->lock);
	b = s->rc ? NULL : s->buf[(s->head + s->count) % STAGE_SLOTS];
	pthread_mutex_unlock(&s->lock);
	return b;
}

void stage_commit(struct stage *s, long n)
{
	pthread_mutex_lock(&s->lock);
	s->len[(s->head + s->count) % STAGE_SLOTS] = n;
	s->count++;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

int stage_finish(struct stage *s)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	rc = s->rc;
	stage_free(s);
	return rc;
}

/* ---- helper ---- */

struct helper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	helper_fn fn;		/* protected by lock: the task, NULL when idle */
	void *arg;
	bool quit;		/* protected by lock */
};

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	FPU_FAST_ENTER();

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->fn && !h->quit)
			pthread_cond_wait(&h->changed, &h->lock);
		if (!h->fn)
			break;
		pthread_mutex_unlock(&h->lock);
		h->fn(h->arg);
		pthread_mutex_lock(&h->lock);
		h->fn = NULL;
		pthread_cond_broadcast(&h->changed);
	}
	pthread_mutex_unlock(&h->lock);
	FPU_FAST_LEAVE();
	return NULL;
}

int helper_start(struct helper **out)
{
	struct helper *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->changed, NULL);
	if ((rc = pthread_create(&h->thread, NULL, helper_main, h))) {
		pthread_cond_destroy(&h->changed);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return -rc;
	}
	*out = h;
	return 0;
}

void helper_run(struct helper *h, helper_fn fn, void *arg)
{
	pthread_mutex_lock(&h->lock);
	h->fn = fn;
	h->arg = arg;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

void helper_wait(struct helper *h)
{
	pthread_mutex_lock(&h->lock);
	while (h->fn)
		pthread_cond_wait(&h->changed, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

void helper_stop(struct helper *h)
{
	if (!h)
		return;
	helper_wait(h);
	pthread_mutex_lock(&h->lock);
	h->quit = true;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->changed);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
