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

static pthread_mutex_t drop_lock = PTHREAD_MUTEX_INITIALIZER;
static struct drop **drops;	/* protected by drop_lock: listed ones */
static size_t n_drops, cap_drops;	/* protected by drop_lock */

static ssize_t drop_find(const char *sid, const char *name)
{
	for (size_t i = 0; i < n_drops; i++)
		if (strcmp(drops[i]->sid, sid) == 0 && strcmp(drops[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static void drop_unlist(size_t i)
{
	struct drop *d = drops[i];

	drops[i] = drops[--n_drops];
	d->listed = false;
	if (--d->refs == 0) {
		free(d->buf);
		free(d);
	}
}

struct drop *drop_create(const char *sid, const char *name, uid_t uid, gid_t gid, mode_t mode)
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
	d->refs = 2; /* the list's and the caller's */
	d->listed = true;
	pthread_mutex_lock(&drop_lock);
	if ((old = drop_find(sid, name)) >= 0)
		drop_unlist((size_t)old);
	if (n_drops == cap_drops) {
		size_t cap = cap_drops ? cap_drops * 2 : 16;
		struct drop **v = realloc(drops, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&drop_lock);
			free(d);
			return NULL;
		}
		drops = v;
		cap_drops = cap;
	}
	drops[n_drops++] = d;
	pthread_mutex_unlock(&drop_lock);
	return d;
}

struct drop *drop_get(const char *sid, const char *name)
{
	struct drop *d = NULL;
	ssize_t i;

	pthread_mutex_lock(&drop_lock);
	if ((i = drop_find(sid, name)) >= 0) {
		d = drops[i];
		d->refs++;
	}
	pthread_mutex_unlock(&drop_lock);
	return d;
}

void drop_put(struct drop *d)
{
	bool last;

	pthread_mutex_lock(&drop_lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&drop_lock);
	if (last) {
		free(d->buf);
		free(d);
	}
}

int drop_unlink(const char *sid, const char *name)
{
	ssize_t i;

	pthread_mutex_lock(&drop_lock);
	i = drop_find(sid, name);
	if (i >= 0)
		drop_unlist((size_t)i);
	pthread_mutex_unlock(&drop_lock);
	return i >= 0 ? 0 : -ENOENT;
}

int drop_rename(const char *sid, const char *from, const char *to)
{
	ssize_t i, j;

	pthread_mutex_lock(&drop_lock);
	i = drop_find(sid, from);
	if (i >= 0 && strcmp(from, to) != 0) { /* onto itself: nothing to do */
		if ((j = drop_find(sid, to)) >= 0) {
			drop_unlist((size_t)j);
			i = drop_find(sid, from);
		}
		snprintf(drops[i]->name, sizeof(drops[i]->name), "%s", to);
		drops[i]->dirty = true;
	}
	pthread_mutex_unlock(&drop_lock);
	return i >= 0 ? 0 : -ENOENT;
}

int drop_write(struct drop *d, const char *buf, size_t len, off_t off)
{
	int rc = 0;

	pthread_mutex_lock(&drop_lock);
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
	pthread_mutex_unlock(&drop_lock);
	return rc;
}

int drop_truncate(struct drop *d, off_t len)
{
	int rc = 0;

	pthread_mutex_lock(&drop_lock);
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
	pthread_mutex_unlock(&drop_lock);
	return rc;
}

int drop_snapshot(struct drop *d, char **buf, size_t *len, bool *dirty)
{
	int rc = 0;

	pthread_mutex_lock(&drop_lock);
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
	pthread_mutex_unlock(&drop_lock);
	return rc;
}

void drop_mark_clean(struct drop *d)
{
	pthread_mutex_lock(&drop_lock);
	d->dirty = false;
	pthread_mutex_unlock(&drop_lock);
}

void drop_flags(struct drop *d, char *name, bool *listed, bool *dirty, bool *failed_big)
{
	pthread_mutex_lock(&drop_lock);
	memcpy(name, d->name, sizeof(d->name));
	*listed = d->listed;
	*dirty = d->dirty;
	*failed_big = d->failed_big;
	pthread_mutex_unlock(&drop_lock);
}

int drop_names(const char *sid, char ***names, size_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&drop_lock);
	*names = calloc(n_drops + 1, sizeof(char *));
	*n = 0;
	if (!*names)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n_drops; i++)
		if (strcmp(drops[i]->sid, sid) == 0 && !((*names)[(*n)++] = strdup(drops[i]->name)))
			rc = -ENOMEM;
	pthread_mutex_unlock(&drop_lock);
	return rc;
}

void drop_stat(struct drop *d, struct stat *st)
{
	pthread_mutex_lock(&drop_lock);
	st->st_mode = S_IFREG | d->mode;
	st->st_size = (off_t)d->len;
	st->st_uid = d->uid;
	st->st_gid = d->gid;
	st->st_mtim = st->st_ctim = st->st_atim = d->mtime;
	pthread_mutex_unlock(&drop_lock);
}

void drop_set_times(struct drop *d, const struct timespec *mtime)
{
	pthread_mutex_lock(&drop_lock);
	d->mtime = *mtime;
	pthread_mutex_unlock(&drop_lock);
}

void drop_set_mode(struct drop *d, mode_t mode)
{
	pthread_mutex_lock(&drop_lock);
	d->mode = mode & 07777;
	pthread_mutex_unlock(&drop_lock);
}

void drop_free_all(void)
{
	pthread_mutex_lock(&drop_lock);
	while (n_drops)
		drop_unlist(n_drops - 1);
	free(drops);
	drops = NULL;
	cap_drops = 0;
	pthread_mutex_unlock(&drop_lock);
}
