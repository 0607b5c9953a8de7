/*
 * handles.c - open files and folders of the tree, by id: see handles.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_impl.h"
#include "handles.h"

int handles_init(struct handle_table *t)
{
	int rc = pthread_mutex_init(&t->lock, NULL);

	hmap_init(&t->map);
	t->next_id = 1;
	return -rc;
}

static void handle_drop(void *ctx, void *val)
{
	(void)ctx;
	handle_free(val);
}

void handles_release(struct handle_table *t)
{
	hmap_each(&t->map, handle_drop, NULL);
	hmap_free(&t->map);
	pthread_mutex_destroy(&t->lock);
}

struct handle *handle_new(enum h_kind kind, const struct node *n, uid_t uid)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->kind = kind;
		h->node = *n;
		h->fd = -1;
		h->uid = uid;
		pthread_mutex_init(&h->lock, NULL);
	}
	return h;
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	if (h->drop)
		drop_put(h->drop);
	free(h->buf);
	free(h->ents);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Put @h in the table and give its id to @fi. Returns 0 or -ENOMEM. */
int handle_publish(struct mixfs_fs *fs, struct handle *h, struct fuse_file_info *fi)
{
	uint64_t id;
	int rc;

	pthread_mutex_lock(&fs->handles.lock);
	id = fs->handles.next_id++;
	snprintf(h->key, sizeof(h->key), "%llu", (unsigned long long)id);
	h->refs = 1;
	rc = hmap_put(&fs->handles.map, h->key, h);
	pthread_mutex_unlock(&fs->handles.lock);
	fi->fh = id;
	return rc;
}

void handle_reply_open(struct mixfs_fs *fs, fuse_req_t req, struct handle *h,
		       struct fuse_file_info *fi)
{
	if (handle_publish(fs, h, fi)) {
		handle_free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi)) /* the kernel will never release it */
		handle_put(fs, handle_retire(fs, fi));
}

/* The handle of @fi with a reference (handle_put it), or NULL if released. */
struct handle *handle_get(struct mixfs_fs *fs, const struct fuse_file_info *fi)
{
	char key[24];
	struct handle *h;

	snprintf(key, sizeof(key), "%llu", (unsigned long long)fi->fh);
	pthread_mutex_lock(&fs->handles.lock);
	if ((h = hmap_get(&fs->handles.map, key)))
		h->refs++;
	pthread_mutex_unlock(&fs->handles.lock);
	return h;
}

void handle_put(struct mixfs_fs *fs, struct handle *h)
{
	bool last;

	pthread_mutex_lock(&fs->handles.lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&fs->handles.lock);
	if (last)
		handle_free(h);
}

/* RELEASE: out of the table; freed when the last user puts it. */
struct handle *handle_retire(struct mixfs_fs *fs, const struct fuse_file_info *fi)
{
	char key[24];
	struct handle *h;

	snprintf(key, sizeof(key), "%llu", (unsigned long long)fi->fh);
	pthread_mutex_lock(&fs->handles.lock);
	h = hmap_del(&fs->handles.map, key);
	pthread_mutex_unlock(&fs->handles.lock);
	return h;
}
