/*
 * nodes.c - the inode table: which node of the tree each inode number
 * names. A node is made when the kernel first looks it up and freed when
 * the kernel forgets it, so its number is stable for as long as anyone
 * holds it. The five fixed nodes (root, README, stats, sessions, jobs) are
 * never freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_impl.h"

/* In the order of FS_INO_ROOT.. FS_INO_JOBS. */
static const enum node_kind fixed[] = { N_ROOT, N_README, N_STATS, N_SESSIONS, N_JOB_LINKS };

static void node_key(char *out, size_t cap, enum node_kind kind, const char *sid,
		     const char *jid, const char *name, enum job_file jf)
{
	snprintf(out, cap, "%d/%d/%s/%s/%s", (int)kind, (int)jf, sid ? sid : "",
		 jid ? jid : "", name ? name : "");
}

static struct node *node_new(struct node_table *t, enum node_kind kind, const char *sid, const char *jid,
			     const char *name, enum job_file jf, fuse_ino_t ino)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->ino = ino;
	n->kind = kind;
	n->jf = jf;
	snprintf(n->sid, sizeof(n->sid), "%s", sid ? sid : "");
	snprintf(n->jid, sizeof(n->jid), "%s", jid ? jid : "");
	snprintf(n->name, sizeof(n->name), "%s", name ? name : "");
	node_key(n->key, sizeof(n->key), kind, sid, jid, name, jf);
	snprintf(n->ino_key, sizeof(n->ino_key), "%lu", (unsigned long)ino);
	if (hmap_put(&t->by_key, n->key, n) || hmap_put(&t->by_ino, n->ino_key, n)) {
		hmap_del(&t->by_key, n->key);
		free(n);
		return NULL;
	}
	return n;
}

int nodes_init(struct node_table *t)
{
	int rc;

	if ((rc = pthread_mutex_init(&t->lock, NULL)))
		return -rc;
	hmap_init(&t->by_key);
	hmap_init(&t->by_ino);
	t->next_ino = FS_FIXED_INOS;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		if (!node_new(t, fixed[i], NULL, NULL, NULL, 0, (fuse_ino_t)(FS_INO_ROOT + i))) {
			nodes_release(t);
			return -ENOMEM;
		}
	return 0;
}

static void free_node(void *ctx, void *val)
{
	(void)ctx;
	free(val);
}

void nodes_release(struct node_table *t)
{
	hmap_each(&t->by_ino, free_node, NULL);
	hmap_free(&t->by_key);
	hmap_free(&t->by_ino);
	pthread_mutex_destroy(&t->lock);
}

int nodes_get(struct node_table *t, enum node_kind kind, const char *sid, const char *jid, const char *name,
	      enum job_file jf, struct node *out)
{
	char key[512];
	struct node *n;

	node_key(key, sizeof(key), kind, sid, jid, name, jf);
	pthread_mutex_lock(&t->lock);
	n = hmap_get(&t->by_key, key);
	if (!n)
		n = node_new(t, kind, sid, jid, name, jf, t->next_ino++);
	if (n)
		*out = *n;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOMEM;
}

int nodes_find(struct node_table *t, fuse_ino_t ino, struct node *out)
{
	char key[24];
	struct node *n;

	snprintf(key, sizeof(key), "%lu", (unsigned long)ino);
	pthread_mutex_lock(&t->lock);
	n = hmap_get(&t->by_ino, key);
	if (n)
		*out = *n;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
}

fuse_ino_t nodes_ino_of(struct node_table *t, enum node_kind kind, const char *sid, const char *jid,
			const char *name, enum job_file jf)
{
	char key[512];
	struct node *n;
	fuse_ino_t ino;

	node_key(key, sizeof(key), kind, sid, jid, name, jf);
	pthread_mutex_lock(&t->lock);
	n = hmap_get(&t->by_key, key);
	ino = n ? n->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

fuse_ino_t nodes_peek_ino(struct node_table *t, enum node_kind kind, const char *sid, const char *jid,
			  const char *name, enum job_file jf)
{
	fuse_ino_t ino = nodes_ino_of(t, kind, sid, jid, name, jf);
	char key[512];

	if (ino)
		return ino;
	/* Only shown by readdir (d_ino); a later lookup makes the real one. */
	node_key(key, sizeof(key), kind, sid, jid, name, jf);
	return (fuse_ino_t)(util_fnv1a(key, strlen(key)) | (1ULL << 62));
}

bool nodes_served_same(struct node_table *t, fuse_ino_t ino, uint64_t digest)
{
	char key[24];
	struct node *n;
	bool same = false;

	snprintf(key, sizeof(key), "%lu", (unsigned long)ino);
	pthread_mutex_lock(&t->lock);
	if ((n = hmap_get(&t->by_ino, key))) {
		same = n->served_valid && n->served == digest;
		n->served = digest;
		n->served_valid = true;
	}
	pthread_mutex_unlock(&t->lock);
	return same;
}

void nodes_ref(struct node_table *t, fuse_ino_t ino)
{
	char key[24];
	struct node *n;

	snprintf(key, sizeof(key), "%lu", (unsigned long)ino);
	pthread_mutex_lock(&t->lock);
	if ((n = hmap_get(&t->by_ino, key)))
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

void nodes_forget(struct node_table *t, fuse_ino_t ino, uint64_t count)
{
	char key[24];
	struct node *n;

	snprintf(key, sizeof(key), "%lu", (unsigned long)ino);
	pthread_mutex_lock(&t->lock);
	n = hmap_get(&t->by_ino, key);
	if (n && ino >= FS_FIXED_INOS) {
		n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
		if (!n->nlookup) {
			hmap_del(&t->by_ino, n->ino_key);
			hmap_del(&t->by_key, n->key);
			free(n);
		}
	}
	pthread_mutex_unlock(&t->lock);
}
