/* hmap.c - see hmap.h. Chained buckets, doubled at load factor 1. */
#include "mixfs/hmap.h"
#include "mixfs/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: plenty for UUIDs and session names. */
static size_t hmap_hash(const char *s)
{
	return (size_t)util_fnv1a(s, strlen(s));
}

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void hmap_free(struct hmap *m)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct hmap_node *n = m->buckets[i];

		while (n) {
			struct hmap_node *next = n->next;

			free(n);
			n = next;
		}
	}
	free(m->buckets);
	hmap_init(m);
}

static int hmap_grow(struct hmap *m)
{
	size_t nb = m->n_buckets ? m->n_buckets * 2 : 64;
	struct hmap_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct hmap_node *n = m->buckets[i];

		while (n) {
			struct hmap_node *next = n->next;
			size_t k = hmap_hash(n->key) % nb;

			n->next = b[k];
			b[k] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = nb;
	return 0;
}

static struct hmap_node **hmap_slot(const struct hmap *m, const char *key)
{
	struct hmap_node **p = &m->buckets[hmap_hash(key) % m->n_buckets];

	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

int hmap_put(struct hmap *m, const char *key, void *val)
{
	struct hmap_node **p, *n;

	if (m->n >= m->n_buckets && hmap_grow(m))
		return -ENOMEM;
	p = hmap_slot(m, key);
	if (*p) {
		(*p)->key = key;
		(*p)->val = val;
		return 0;
	}
	if (!(n = malloc(sizeof(*n))))
		return -ENOMEM;
	*n = (struct hmap_node){ key, val, NULL };
	*p = n;
	m->n++;
	return 0;
}

void *hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_node **p;

	if (!m->n_buckets)
		return NULL;
	p = hmap_slot(m, key);
	return *p ? (*p)->val : NULL;
}

void *hmap_del(struct hmap *m, const char *key)
{
	struct hmap_node **p, *n;
	void *val;

	if (!m->n_buckets)
		return NULL;
	p = hmap_slot(m, key);
	if (!(n = *p))
		return NULL;
	val = n->val;
	*p = n->next;
	free(n);
	m->n--;
	return val;
}

void hmap_each(const struct hmap *m, void (*fn)(void *ctx, void *val), void *ctx)
{
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct hmap_node *n = m->buckets[i]; n; n = n->next)
			fn(ctx, n->val);
}
