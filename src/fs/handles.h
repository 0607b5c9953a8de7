/*
 * handles.h - what an open file or folder of the tree holds, and the table
 * of them by id (struct handle_table, in fs_impl.h). A handle is created
 * unlisted (handle_new), published under an id given to the kernel
 * (handle_publish), found again by that id with a reference (handle_get /
 * handle_put), and retired from the table at release (handle_retire),
 * after which the last put frees it. The table's lock guards the map and
 * every handle's refs; a handle's own lock guards what ctl writes gather.
 */
#ifndef MIXFS_FS_HANDLES_H
#define MIXFS_FS_HANDLES_H

#include "fs_impl.h"

enum h_kind { H_BUF, H_FD, H_DROP, H_CTL, H_WAIT, H_DIR };

struct dirent_snap {
	char name[256];
	fuse_ino_t ino;
	mode_t type;
};

struct handle {
	enum h_kind kind;
	struct node node;
	char *buf;			/* H_BUF; H_CTL under lock */
	size_t len;
	int fd;				/* H_FD */
	struct drop *drop;		/* H_DROP: a reference */
	uid_t uid;			/* who opened it */
	struct dirent_snap *ents;	/* H_DIR */
	size_t n_ents;
	int refs;			/* protected by the handle table's lock */
	char key[24];			/* its id in the handle table */
	pthread_mutex_t lock;		/* H_CTL: buf and len, written by writes */
};

/* A reply to a request that needs a live handle but found none. */
#define WITH_HANDLE(req, fi, h)                                            \
	struct handle *h = handle_get(fs, fi);                             \
	if (!h) {                                                          \
		fuse_reply_err(req, EBADF);                                \
		return;                                                    \
	}

struct handle *handle_new(enum h_kind kind, const struct node *n, uid_t uid);
void handle_free(struct handle *h);
int handle_publish(struct mixfs_fs *fs, struct handle *h, struct fuse_file_info *fi);
struct handle *handle_get(struct mixfs_fs *fs, const struct fuse_file_info *fi);
void handle_put(struct mixfs_fs *fs, struct handle *h);
struct handle *handle_retire(struct mixfs_fs *fs, const struct fuse_file_info *fi);
/* Publish @h as @fi's and answer an open (or opendir) with it: the handle
 * is the table's from here on, whatever the reply does; ENOMEM frees it. */
void handle_reply_open(struct mixfs_fs *fs, fuse_req_t req, struct handle *h,
		       struct fuse_file_info *fi);

#endif
