/*
 * fs_impl.h - what the files of src/fs share. The tree is served through
 * libfuse's low-level API: every node has a stable inode number while the
 * kernel knows it, replies to `wait` are deferred (no thread is held), and
 * kernel caches are invalidated from one notifier thread, never from inside
 * a request handler.
 */
#ifndef MIXFS_FS_IMPL_H
#define MIXFS_FS_IMPL_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mixfs/core.h"
#include "mixfs/hmap.h"
#include "mixfs/job.h"

enum node_kind {
	N_ROOT = 1,
	N_README,
	N_STATS,
	N_SESSIONS,
	N_JOB_LINKS,		/* /jobs */
	N_SESSION,
	N_STEMS,
	N_STEM_FILE,
	N_REQUESTS,
	N_REQUEST_FILE,		/* a receipt or a draft in requests/ */
	N_SESSION_JOBS,
	N_JOB,
	N_JOB_FILE,
	N_LATEST,
	N_SESSION_FINAL,
	N_JOB_LINK,		/* /jobs/JID */
};

enum job_file {
	JF_STATE, JF_PROGRESS, JF_JOB_JSON, JF_REQUEST_JSON, JF_ERROR,
	JF_LOG, JF_WAIT, JF_FINAL_MIX, JF_CTL, JF_COUNT
};

extern const char *const fs_job_file_names[JF_COUNT];

struct node {
	fuse_ino_t ino;
	enum node_kind kind;
	enum job_file jf;	/* N_JOB_FILE only */
	char sid[JOB_SESSION_MAX + 1];
	char jid[JOB_ID_LEN + 1];	/* N_JOB, N_JOB_FILE, N_JOB_LINK */
	char name[256];		/* N_STEM_FILE, N_REQUEST_FILE */
	uint64_t nlookup;	/* protected by the table's lock */
	/* protected by the table's lock: a digest of the text last served
	 * through an open that let the kernel keep its pages (files.c) */
	uint64_t served;
	bool served_valid;
	char key[512];		/* kind/sid/jid/name: the table's key */
	char ino_key[24];
};

/* ---- nodes.c: the inode table ---- */

/* Which node each inode number names, made at first lookup and freed when
 * the kernel forgets it (its lookup count falls to 0), so a number is
 * stable for as long as anyone holds it. The fixed nodes are never freed.
 * Every call takes the table's lock itself; nodes come out as copies. */
struct node_table {
	pthread_mutex_t lock;
	struct hmap by_key;	/* protected by lock: kind/sid/jid/name -> node (owned) */
	struct hmap by_ino;	/* protected by lock: inode number -> the same node */
	fuse_ino_t next_ino;	/* protected by lock */
};

/* Set up the table with its fixed nodes; 0 or -errno (nothing held). */
int nodes_init(struct node_table *t);
/* Free every node and the table's contents. */
void nodes_release(struct node_table *t);
/* Find or make the node (into @out); it stays until forgotten. 0 or -ENOMEM. */
int nodes_get(struct node_table *t, enum node_kind kind, const char *sid, const char *jid,
	      const char *name, enum job_file jf, struct node *out);
/* Copy the node of @ino into @out; -ENOENT when unknown. */
int nodes_find(struct node_table *t, fuse_ino_t ino, struct node *out);
/* The inode of a node if the kernel may know it, else 0. */
fuse_ino_t nodes_ino_of(struct node_table *t, enum node_kind kind, const char *sid,
			const char *jid, const char *name, enum job_file jf);
/* The kernel learned of @ino once more (a lookup reply), or forgot it
 * @n times; at 0 the node is freed. */
void nodes_ref(struct node_table *t, fuse_ino_t ino);
void nodes_forget(struct node_table *t, fuse_ino_t ino, uint64_t n);
/* A synthetic file of @ino is opened with @digest of its text: record it,
 * and say whether it is the text the kernel may hold already (the last one
 * recorded). false for an unknown inode. */
bool nodes_served_same(struct node_table *t, fuse_ino_t ino, uint64_t digest);
/* A stable number for readdir without making a node. */
fuse_ino_t nodes_peek_ino(struct node_table *t, enum node_kind kind, const char *sid,
			  const char *jid, const char *name, enum job_file jf);

/* ---- dropbox.c: files being written into requests/, and drafts ---- */

struct drop_box;

/* A file in requests/ while it is written, or a draft. Every field is
 * protected by its box's lock; the functions below take it. */
struct drop {
	struct drop_box *box;
	char sid[JOB_SESSION_MAX + 1];
	char name[256];
	char *buf;		/* owned; NULL when empty */
	size_t len;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	struct timespec mtime;
	bool dirty;		/* written since the last submit */
	bool failed_big;	/* a write went past the cap: EFBIG, nothing kept */
	int refs;		/* open handles + 1 while listed */
	bool listed;
};

/* The listed drops of every session. */
struct drop_box {
	pthread_mutex_t lock;
	struct drop **v;	/* protected by lock: listed drops (each holds a ref) */
	size_t n, cap;		/* protected by lock */
};

/* 0 or -errno. */
int drop_box_init(struct drop_box *b);
/* Unlist every drop and free the box's contents; drops still held by
 * handles live on until put. */
void drop_box_release(struct drop_box *b);
/* A new listed drop (a reference for the caller), replacing one of the
 * same name. NULL on ENOMEM. */
struct drop *drop_create(struct drop_box *b, const char *sid, const char *name, uid_t uid,
			 gid_t gid, mode_t mode);
/* The listed drop named @name (a new reference), or NULL. */
struct drop *drop_get(struct drop_box *b, const char *sid, const char *name);
void drop_put(struct drop *d);
/* Unlist (unlink); the drop lives on while handles hold it. -ENOENT. */
int drop_unlink(struct drop_box *b, const char *sid, const char *name);
/* Rename, replacing a drop of the new name; onto itself changes nothing.
 * -ENOENT. */
int drop_rename(struct drop_box *b, const char *sid, const char *from, const char *to);
/* Write or truncate; past REQUEST_MAX_BYTES -EFBIG and nothing is kept. */
int drop_write(struct drop *d, const char *buf, size_t len, off_t off);
int drop_truncate(struct drop *d, off_t len);
/* Copy out a drop's bytes for submitting or reading (malloc'd). */
int drop_snapshot(struct drop *d, char **buf, size_t *len, bool *dirty);
void drop_mark_clean(struct drop *d);
/* Its name (256 bytes) and flags, read under the lock: a rename may change
 * the name at any time. */
void drop_flags(struct drop *d, char *name, bool *listed, bool *dirty, bool *failed_big);
/* Listed names of a session's drops (malloc'd array of malloc'd strings). */
int drop_names(struct drop_box *b, const char *sid, char ***names, size_t *n);
void drop_stat(struct drop *d, struct stat *st);
void drop_set_times(struct drop *d, const struct timespec *mtime);
void drop_set_mode(struct drop *d, mode_t mode);

/* ---- render.c: the contents of synthetic files ---- */

/* Render a node's text into a malloc'd buffer. -ENOENT when it is gone. */
int render_node(struct core *c, const struct node *n, char **buf, size_t *len);

/* ---- events.c: kernel notifications, deferred waits, polls ---- */

struct mixfs_fs;

/* Start the notifier thread (fs->se set first). 0 or -errno, nothing held. */
int events_init(struct mixfs_fs *fs);
/* Stop it, answering deferred waits EINTR and dropping polls. */
void events_stop(struct mixfs_fs *fs);
/* After events_stop(): free what events_init() made. */
void events_release(struct mixfs_fs *fs);
/* The core's listener (@ctx is the struct mixfs_fs): queue for the
 * notifier thread; never blocks. */
void events_listener(void *ctx, enum core_event ev, const char *sid, const char *jid);
/* Defer a read of `wait` until the job is final. */
void events_wait(struct mixfs_fs *fs, fuse_req_t req, const char *jid);
/* Register a poll handle for a job's state (taken over). */
void events_poll(struct mixfs_fs *fs, const char *jid, struct fuse_pollhandle *ph);

/* ---- ops.c ---- */
extern const struct fuse_lowlevel_ops fs_ops;

/* Who asked. */
static inline uid_t req_uid(fuse_req_t req)
{
	return fuse_req_ctx(req)->uid;
}

/*
 * Open handles by id. A caller killed in the middle of a read makes the
 * kernel send RELEASE while that READ is still being served on another
 * thread, so fi->fh is an id looked up (and referenced) under a lock,
 * never a bare pointer.
 */
struct handle_table {
	pthread_mutex_t lock;
	struct hmap map;	/* protected by lock: id -> struct handle (ops.c) */
	uint64_t next_id;	/* protected by lock */
};

struct ev_item;
struct waiter;
struct poller;

/* 0 or -errno. */
int handles_init(struct handle_table *t);
/* Free the table and any handle the kernel never released. */
void handles_release(struct handle_table *t);

/* The notifier's state (events.c). */
struct fs_events {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* with lock: an event was queued, or stopping;
				 * only the notifier thread waits on it */
	struct ev_item *head, *tail;	/* protected by lock: the queue */
	bool stopping;		/* protected by lock */
	pthread_t thread;
	bool started;		/* set and read by the mounting thread only */
	pthread_mutex_t wait_lock;
	struct waiter *waiters;	/* protected by wait_lock: deferred reads of wait */
	struct poller *pollers;	/* protected by wait_lock: polls on state */
};

/*
 * Everything the mounted tree holds: handed to fuse_session_new() as its
 * userdata and read back from each request (fuse_req_userdata), so no
 * handler reaches a global. @core and @se are set before the session
 * serves its first request and not changed until it has stopped.
 */
struct mixfs_fs {
	struct core *core;		/* owned */
	struct fuse_session *se;
	struct node_table nodes;
	struct drop_box drops;
	struct handle_table handles;
	struct fs_events events;
};

/* The fixed nodes, made by nodes_init() in this order. */
enum {
	FS_INO_ROOT = 1, FS_INO_README, FS_INO_STATS, FS_INO_SESSIONS, FS_INO_JOBS,
	FS_FIXED_INOS = 16	/* inodes below this are never forgotten */
};

#endif
