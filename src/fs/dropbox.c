/*
 * dropbox.c - files in requests/ that are not (yet) requests: ones being
 * written, and drafts (".x", "x~", "x.tmp", "x.part", "x.swp", and empty
 * files) that stay until renamed to a plain name or removed. They live in
 * memory, capped at REQUEST_MAX_BYTES each: what matters is the request
 * they become, which the job record keeps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_impl.h"
#include "mixfs/request.h"


int drop_box_init(struct drop_box *b)
{
	int rc = pthread_mutex_init(&b->lock, NULL);

	b->v = NULL;
	b->n = b->cap = 0;
	return -rc;
}

static ssize_t drop_find(struct drop_box *b, const char *sid, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->v[i]->sid, sid) == 0 && strcmp(b->v[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static void drop_unlist(struct drop_box *b, size_t i)
{
	struct drop *d = b->v[i];

	b->v[i] = b->v[--b->n];
	d->listed = false;
	if (--d->refs == 0) {
		free(d->buf);
		free(d);
	}
}

struct drop *drop_create(struct drop_box *b, const char *sid, const char *name, uid_t uid, gid_t gid, mode_t mode)
{
	struct drop *d = calloc(1, sizeof(*d));
	ssize_t old;

	if (!d)
		return NULL;
	snprintf(d->sid, sizeof(d->sid), "%s", sid);
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->uid = uid;
	d->gid = gid;
	d->mode = mode & 07777;
	clock_gettime(CLOCK_REALTIME, &d->mtime);
	d->box = b;
	d->refs = 2; /* the list's and the caller's */
	d->listed = true;
	pthread_mutex_lock(&b->lock);
	if ((old = drop_find(b, sid, name)) >= 0)
		drop_unlist(b, (size_t)old);
	if (util_grow((void **)&b->v, &b->cap, b->n, sizeof(*b->v))) {
		pthread_mutex_unlock(&b->lock);
		free(d);
		return NULL;
	}
	b->v[b->n++] = d;
	pthread_mutex_unlock(&b->lock);
	return d;
}

struct drop *drop_get(struct drop_box *b, const char *sid, const char *name)
{
	struct drop *d = NULL;
	ssize_t i;

	pthread_mutex_lock(&b->lock);
	if ((i = drop_find(b, sid, name)) >= 0) {
		d = b->v[i];
		d->refs++;
	}
	pthread_mutex_unlock(&b->lock);
	return d;
}

void drop_put(struct drop *d)
{
	bool last;

	pthread_mutex_lock(&d->box->lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&d->box->lock);
	if (last) {
		free(d->buf);
		free(d);
	}
}

int drop_unlink(struct drop_box *b, const char *sid, const char *name)
{
	ssize_t i;

	pthread_mutex_lock(&b->lock);
	i = drop_find(b, sid, name);
	if (i >= 0)
		drop_unlist(b, (size_t)i);
	pthread_mutex_unlock(&b->lock);
	return i >= 0 ? 0 : -ENOENT;
}

int drop_rename(struct drop_box *b, const char *sid, const char *from, const char *to)
{
	ssize_t i, j;

	pthread_mutex_lock(&b->lock);
	i = drop_find(b, sid, from);
	if (i >= 0 && strcmp(from, to) != 0) { /* onto itself: nothing to do */
		if ((j = drop_find(b, sid, to)) >= 0) {
			drop_unlist(b, (size_t)j);
			i = drop_find(b, sid, from);
		}
		snprintf(b->v[i]->name, sizeof(b->v[i]->name), "%s", to);
		b->v[i]->dirty = true;
	}
	pthread_mutex_unlock(&b->lock);
	return i >= 0 ? 0 : -ENOENT;
}

int drop_write(struct drop *d, const char *buf, size_t len, off_t off)
{
	int rc = 0;

	pthread_mutex_lock(&d->box->lock);
	if (off < 0 || (size_t)off + len > REQUEST_MAX_BYTES) {
		/* nothing of an oversized request is kept */
		free(d->buf);
		d->buf = NULL;
		d->len = 0;
		d->failed_big = true;
		rc = -EFBIG;
	} else if (len > 0) { /* no bytes change nothing (and d->buf may be NULL) */
		size_t end = (size_t)off + len;

		if (end > d->len) {
			char *nb = realloc(d->buf, end);

			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			memset(nb + d->len, 0, (size_t)off > d->len ? (size_t)off - d->len : 0);
			d->buf = nb;
			d->len = end;
		}
		memcpy(d->buf + off, buf, len);
		d->dirty = true;
		clock_gettime(CLOCK_REALTIME, &d->mtime);
	}
out:
	pthread_mutex_unlock(&d->box->lock);
	return rc;
}

int drop_truncate(struct drop *d, off_t len)
{
	int rc = 0;

	pthread_mutex_lock(&d->box->lock);
	if (len < 0 || (size_t)len > REQUEST_MAX_BYTES) {
		rc = -EFBIG;
	} else if ((size_t)len <= d->len) {
		d->len = (size_t)len;
		d->dirty = true;
		d->failed_big = false;
	} else {
		char *nb = realloc(d->buf, (size_t)len);

		if (!nb) {
			rc = -ENOMEM;
		} else {
			memset(nb + d->len, 0, (size_t)len - d->len);
			d->buf = nb;
			d->len = (size_t)len;
			d->dirty = true;
		}
	}
	pthread_mutex_unlock(&d->box->lock);
	return rc;
}

int drop_snapshot(struct drop *d, char **buf, size_t *len, bool *dirty)
{
	int rc = 0;

	pthread_mutex_lock(&d->box->lock);
	*buf = malloc(d->len + 1);
	if (!*buf) {
		rc = -ENOMEM;
	} else {
		if (d->len)
			memcpy(*buf, d->buf, d->len);
		(*buf)[d->len] = '\0';
		*len = d->len;
		if (dirty)
			*dirty = d->dirty && !d->failed_big;
	}
	pthread_mutex_unlock(&d->box->lock);
	return rc;
}

void drop_mark_clean(struct drop *d)
{
	pthread_mutex_lock(&d->box->lock);
	d->dirty = false;
	pthread_mutex_unlock(&d->box->lock);
}

void drop_flags(struct drop *d, char *name, bool *listed, bool *dirty, bool *failed_big)
{
	pthread_mutex_lock(&d->box->lock);
	memcpy(name, d->name, sizeof(d->name));
	*listed = d->listed;
	*dirty = d->dirty;
	*failed_big = d->failed_big;
	pthread_mutex_unlock(&d->box->lock);
}

int drop_names(struct drop_box *b, const char *sid, char ***names, size_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	*names = calloc(b->n + 1, sizeof(char *));
	*n = 0;
	if (!*names)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < b->n; i++)
		if (strcmp(b->v[i]->sid, sid) == 0 && !((*names)[(*n)++] = strdup(b->v[i]->name)))
			rc = -ENOMEM;
	pthread_mutex_unlock(&b->lock);
	if (rc && *names) {
		for (size_t i = 0; i < *n; i++)
			free((*names)[i]);
		free(*names);
		*names = NULL;
		*n = 0;
	}
	return rc;
}

void drop_stat(struct drop *d, struct stat *st)
{
	pthread_mutex_lock(&d->box->lock);
	st->st_mode = S_IFREG | d->mode;
	st->st_size = (off_t)d->len;
	st->st_uid = d->uid;
	st->st_gid = d->gid;
	st->st_mtim = st->st_ctim = st->st_atim = d->mtime;
	pthread_mutex_unlock(&d->box->lock);
}

void drop_set_times(struct drop *d, const struct timespec *mtime)
{
	pthread_mutex_lock(&d->box->lock);
	d->mtime = *mtime;
	pthread_mutex_unlock(&d->box->lock);
}

void drop_set_mode(struct drop *d, mode_t mode)
{
	pthread_mutex_lock(&d->box->lock);
	d->mode = mode & 07777;
	pthread_mutex_unlock(&d->box->lock);
}

void drop_box_release(struct drop_box *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->n)
		drop_unlist(b, b->n - 1);
	free(b->v);
	b->v = NULL;
	b->cap = 0;
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_destroy(&b->lock);
}
