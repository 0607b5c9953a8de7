/*
 * disk.c - the files the tree passes through to disk: stems/ and the
 * mixes. See disk.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_impl.h"
#include "handles.h"
#include "disk.h"
#include "mixfs/log.h"

/* A session is a real folder in MEDIA_DIR: a symlink there is not one. */
int session_stat(struct mixfs_fs *fs, const char *sid, struct stat *out)
{
	return store_session_stat(core_store(fs->core), sid, out) ? -ENOENT : 0;
}

/* May @uid change session @sid (write into it, cancel or delete there)? */
int may_write_session(struct mixfs_fs *fs, const char *sid, uid_t uid)
{
	struct stat s;
	int rc = session_stat(fs, sid, &s);

	if (rc)
		return rc;
	return uid == 0 || s.st_uid == uid ? 0 : -EACCES;
}

/* The session's stems/ (an fd to close), or -errno. */
int stems_dir(struct mixfs_fs *fs, const char *sid)
{
	int fd = store_stems_dirfd(core_store(fs->core), sid);

	return fd == -ELOOP || fd == -EXDEV ? -ENOENT : fd;
}

/* The folder holding a mix node's file (an fd to close), and its name. */
int output_dir(struct mixfs_fs *fs, const struct node *n, char name[JOB_ID_LEN + 8])
{
	bool job = n->kind != N_SESSION_FINAL;
	int fd = store_output_dirfd(core_store(fs->core), n->sid, job);

	snprintf(name, JOB_ID_LEN + 8, "%s", job ? n->jid : "final_mix.wav");
	if (job)
		strcat(name, ".wav");
	return fd == -ELOOP || fd == -EXDEV ? -ENOENT : fd;
}

/* lstat of a mix node's file; -ENOENT unless it is a regular file. */
int output_stat(struct mixfs_fs *fs, const struct node *n, struct stat *s)
{
	char name[JOB_ID_LEN + 8];
	int fd = output_dir(fs, n, name), rc = 0;

	if (fd < 0)
		return -ENOENT;
	if (fstatat(fd, name, s, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(s->st_mode))
		rc = -ENOENT;
	close(fd);
	return rc;
}

/* lstat of stems/ itself (@name NULL) or of a stem in it. */
int stem_stat(struct mixfs_fs *fs, const char *sid, const char *name, struct stat *s)
{
	int fd = stems_dir(fs, sid), rc = 0;

	if (fd < 0)
		return fd;
	if ((name ? fstatat(fd, name, s, AT_SYMLINK_NOFOLLOW) : fstat(fd, s)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int open_passthrough(struct mixfs_fs *fs, const struct node *n, int flags, struct handle *h)
{
	char name[JOB_ID_LEN + 8];
	bool stem = n->kind == N_STEM_FILE;
	int dfd = stem ? stems_dir(fs, n->sid) : output_dir(fs, n, name);

	if (dfd < 0)
		return dfd;
	h->fd = openat(dfd, stem ? n->name : name,
		       (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC | O_NOFOLLOW);
	close(dfd);
	return h->fd < 0 ? -errno : 0;
}

/* A new stem, made by name in stems/ and given to its writer. */
int stem_create(struct mixfs_fs *fs, const char *sid, const char *name, int flags, mode_t mode,
		       const struct fuse_ctx *ctx, struct handle *h)
{
	int dfd = stems_dir(fs, sid);

	if (dfd < 0)
		return dfd;
	h->fd = openat(dfd, name, (flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW) & ~O_NOCTTY, mode);
	close(dfd);
	if (h->fd < 0)
		return -errno;
	if (fchown(h->fd, ctx->uid, ctx->gid) < 0)
		log_warn("stems/%s: cannot give it to uid %u", name, (unsigned)ctx->uid);
	return 0;
}

int setattr_stem(struct mixfs_fs *fs, const struct node *n, struct stat *attr, int to_set)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
	int dfd = stems_dir(fs, n->sid), fd = -1, rc = 0;

	if (dfd < 0)
		return dfd;
	if (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MODE)) {
		int mode = to_set & FUSE_SET_ATTR_SIZE ? O_WRONLY : O_RDONLY;

		if ((fd = openat(dfd, n->name, mode | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
			rc = -errno;
	}
	if (!rc && (to_set & FUSE_SET_ATTR_SIZE) && ftruncate(fd, attr->st_size) < 0)
		rc = -errno;
	if (!rc && (to_set & FUSE_SET_ATTR_MODE) && fchmod(fd, attr->st_mode & 07777) < 0)
		rc = -errno;
	if (to_set & FUSE_SET_ATTR_ATIME)
		ts[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		ts[1] = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	if (!rc && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			      FUSE_SET_ATTR_MTIME_NOW)) &&
	    utimensat(dfd, n->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	close(dfd);
	return rc;
}
