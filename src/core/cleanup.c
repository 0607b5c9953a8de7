/* cleanup.c - see cleanup.h. */
#include "mixfs/cleanup.h"

#include <errno.h>
#include <stdlib.h>

util_ms cleanup_expiry(enum job_state state, util_ms updated_at, util_ms now,
		       const struct cleanup_ttls *ttls)
{
	util_ms base = updated_at > now ? now : updated_at;

	if (state == JOB_COMPLETE)
		return base + ttls->complete;
	if (state == JOB_ERROR)
		return base + ttls->failed;
	return CLEANUP_NEVER;
}

void cleanup_heap_init(struct cleanup_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
}

void cleanup_heap_free(struct cleanup_heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		*h->v[i].pos = CLEANUP_NOT_QUEUED;
	free(h->v);
	cleanup_heap_init(h);
}

static void heap_set(struct cleanup_heap *h, size_t i, struct cleanup_entry e)
{
	h->v[i] = e;
	*e.pos = i;
}

static void heap_up(struct cleanup_heap *h, size_t i)
{
	struct cleanup_entry e = h->v[i];

	while (i > 0 && h->v[(i - 1) / 2].expiry > e.expiry) {
		heap_set(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(h, i, e);
}

static void heap_down(struct cleanup_heap *h, size_t i)
{
	struct cleanup_entry e = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1].expiry < h->v[c].expiry)
			c++;
		if (h->v[c].expiry >= e.expiry)
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, e);
}

int cleanup_heap_push(struct cleanup_heap *h, util_ms expiry, void *item, size_t *pos)
{
	*pos = CLEANUP_NOT_QUEUED;
	if (util_grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)))
		return -ENOMEM;
	h->v[h->n] = (struct cleanup_entry){ expiry, item, pos };
	heap_up(h, h->n++);
	return 0;
}

void *cleanup_heap_peek(const struct cleanup_heap *h, util_ms *expiry)
{
	if (!h->n)
		return NULL;
	*expiry = h->v[0].expiry;
	return h->v[0].item;
}

void cleanup_heap_remove(struct cleanup_heap *h, size_t pos)
{
	struct cleanup_entry last;

	if (pos == CLEANUP_NOT_QUEUED || pos >= h->n)
		return;
	*h->v[pos].pos = CLEANUP_NOT_QUEUED;
	last = h->v[--h->n];
	if (pos == h->n)
		return;
	heap_set(h, pos, last);
	if (pos > 0 && h->v[(pos - 1) / 2].expiry > last.expiry)
		heap_up(h, pos);
	else
		heap_down(h, pos);
}
