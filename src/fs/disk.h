/*
 * disk.h - the files the tree passes through to disk (stems/, the mixes).
 * They are reached by name in their folder, and the folder is opened with
 * no symlink on the way (store.h): the daemon is root, and stems/ belongs
 * to the session's user. A symlink where a stem or a mix should be is
 * refused (O_NOFOLLOW), never followed. Errors are negative errnos.
 */
#ifndef MIXFS_FS_DISK_H
#define MIXFS_FS_DISK_H

#include "fs_impl.h"
#include "handles.h"

int session_stat(struct mixfs_fs *fs, const char *sid, struct stat *out);
int may_write_session(struct mixfs_fs *fs, const char *sid, uid_t uid);
int stems_dir(struct mixfs_fs *fs, const char *sid);
int output_dir(struct mixfs_fs *fs, const struct node *n, char name[JOB_ID_LEN + 8]);
int output_stat(struct mixfs_fs *fs, const struct node *n, struct stat *s);
int stem_stat(struct mixfs_fs *fs, const char *sid, const char *name, struct stat *s);
int open_passthrough(struct mixfs_fs *fs, const struct node *n, int flags, struct handle *h);
int stem_create(struct mixfs_fs *fs, const char *sid, const char *name, int flags, mode_t mode,
		       const struct fuse_ctx *ctx, struct handle *h);
int setattr_stem(struct mixfs_fs *fs, const struct node *n, struct stat *attr, int to_set);

#endif
