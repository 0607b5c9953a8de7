/*
 * hmap.h - a string-keyed hash map of pointers, for the job cache (100,000
 * jobs must stay O(1) to find). Keys are borrowed: each key must live in
 * its value and outlive the entry. Not thread-safe; the owner locks.
 */
#ifndef MIXFS_HMAP_H
#define MIXFS_HMAP_H

#include <stddef.h>

struct hmap_node {
	const char *key;
	void *val;
	struct hmap_node *next;
};

struct hmap {
	struct hmap_node **buckets;	/* owned */
	size_t n_buckets, n;
};

void hmap_init(struct hmap *m);
/* Frees the map's nodes, not the values. */
void hmap_free(struct hmap *m);
/* Insert or replace. Returns 0 or -ENOMEM. */
int hmap_put(struct hmap *m, const char *key, void *val);
void *hmap_get(const struct hmap *m, const char *key);
/* Remove and return the value, or NULL when absent. */
void *hmap_del(struct hmap *m, const char *key);

/* Visit every value; @fn must not change the map. */
void hmap_each(const struct hmap *m, void (*fn)(void *ctx, void *val), void *ctx);

#endif
