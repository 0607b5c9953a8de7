/*
 * cleanup.h - the expiry policy (SPEC section 4) as pure functions of
 * `now`, and the expiry queue that makes the cleanup pass cost what it
 * deletes instead of what is stored.
 */
#ifndef MIXFS_CLEANUP_H
#define MIXFS_CLEANUP_H

#include <stdbool.h>
#include <stddef.h>

#include "mixfs/job.h"

struct cleanup_ttls {
	util_ms complete;	/* job_ttl: complete jobs, after updated_at */
	util_ms failed;		/* failed_ttl: error jobs and .corrupt files */
};

/*
 * The instant a job expires: updated_at plus the TTL of its final state,
 * where an updated_at later than @now counts as @now (a record from a
 * clock that ran ahead must not live forever). Active jobs never expire:
 * CLEANUP_NEVER.
 */
#define CLEANUP_NEVER INT64_MAX
util_ms cleanup_expiry(enum job_state state, util_ms updated_at, util_ms now,
		       const struct cleanup_ttls *ttls);

/* Whether a job expiring at @expiry is expired at @now (the boundary
 * instant itself is expired). */
static inline bool cleanup_is_expired(util_ms expiry, util_ms now)
{
	return expiry <= now;
}

/*
 * A binary min-heap keyed by expiry. Each entry carries a pointer to a
 * size_t in its owner where the heap keeps the entry's position current,
 * so an owner can be removed (rmdir of a job) in O(log n).
 */
struct cleanup_entry {
	util_ms expiry;
	void *item;
	size_t *pos;
};

struct cleanup_heap {
	struct cleanup_entry *v;	/* owned */
	size_t n, cap;
};

#define CLEANUP_NOT_QUEUED ((size_t)-1)

void cleanup_heap_init(struct cleanup_heap *h);
void cleanup_heap_free(struct cleanup_heap *h);
/* Returns 0 or -ENOMEM (then nothing changed and *pos is CLEANUP_NOT_QUEUED). */
int cleanup_heap_push(struct cleanup_heap *h, util_ms expiry, void *item, size_t *pos);
/* The earliest entry's item and expiry, or NULL when empty. */
void *cleanup_heap_peek(const struct cleanup_heap *h, util_ms *expiry);
/* Remove the entry at @pos (as kept in its owner); sets the owner's pos to
 * CLEANUP_NOT_QUEUED. A pos of CLEANUP_NOT_QUEUED is ignored. */
void cleanup_heap_remove(struct cleanup_heap *h, size_t pos);

#endif
