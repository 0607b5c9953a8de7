/*
 * ops.c - the low-level FUSE operations: route an inode to its node, and
 * turn each call into a job-manager call or a passthrough to disk (stems/,
 * the mixes). Synthetic files are rendered at open into the handle and
 * served with direct_io, so every read shows the current state and no size
 * needs to be right in advance.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs_impl.h"
#include "mixfs/log.h"
#include "mixfs/request.h"

#define DIR_TIMEOUT 1.0		/* names of sessions and jobs; dropped on delete */
#define FILE_TIMEOUT 0.0	/* synthetic files change under the reader */
#define CTL_MAX 64

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


/* ---- helpers ---- */

int handles_init(struct handle_table *t)
{
	int rc = pthread_mutex_init(&t->lock, NULL);

	hmap_init(&t->map);
	t->next_id = 1;
	return -rc;
}

static void handle_free(struct handle *h);

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

static struct handle *handle_new(enum h_kind kind, const struct node *n, uid_t uid)
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

static void handle_free(struct handle *h)
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
static int handle_publish(struct mixfs_fs *fs, struct handle *h, struct fuse_file_info *fi)
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

/* The handle of @fi with a reference (handle_put it), or NULL if released. */
static struct handle *handle_get(struct mixfs_fs *fs, const struct fuse_file_info *fi)
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

static void handle_put(struct mixfs_fs *fs, struct handle *h)
{
	bool last;

	pthread_mutex_lock(&fs->handles.lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&fs->handles.lock);
	if (last)
		handle_free(h);
}

/* RELEASE: out of the table; freed when the last user puts it. */
static struct handle *handle_retire(struct mixfs_fs *fs, const struct fuse_file_info *fi)
{
	char key[24];
	struct handle *h;

	snprintf(key, sizeof(key), "%llu", (unsigned long long)fi->fh);
	pthread_mutex_lock(&fs->handles.lock);
	h = hmap_del(&fs->handles.map, key);
	pthread_mutex_unlock(&fs->handles.lock);
	return h;
}

/* A reply to a request that needs a live handle but found none. */
#define WITH_HANDLE(req, fi, h)                                            \
	struct handle *h = handle_get(fs, fi);                             \
	if (!h) {                                                          \
		fuse_reply_err(req, EBADF);                                \
		return;                                                    \
	}

static uid_t req_uid(fuse_req_t req)
{
	return fuse_req_ctx(req)->uid;
}

/* A session is a real folder in MEDIA_DIR: a symlink there is not one. */
static int session_stat(struct mixfs_fs *fs, const char *sid, struct stat *out)
{
	return store_session_stat(core_store(fs->core), sid, out) ? -ENOENT : 0;
}

/* May @uid change session @sid (write into it, cancel or delete there)? */
static int may_write_session(struct mixfs_fs *fs, const char *sid, uid_t uid)
{
	struct stat s;
	int rc = session_stat(fs, sid, &s);

	if (rc)
		return rc;
	return uid == 0 || s.st_uid == uid ? 0 : -EACCES;
}

/*
 * Files passed through to disk are reached by name in their folder, and
 * the folder is opened with no symlink on the way (store.h): the daemon is
 * root, and stems/ belongs to the session's user. A symlink where a stem
 * or a mix should be is refused (O_NOFOLLOW), never followed.
 */

/* The session's stems/ (an fd to close), or -errno. */
static int stems_dir(struct mixfs_fs *fs, const char *sid)
{
	int fd = store_stems_dirfd(core_store(fs->core), sid);

	return fd == -ELOOP || fd == -EXDEV ? -ENOENT : fd;
}

/* The folder holding a mix node's file (an fd to close), and its name. */
static int output_dir(struct mixfs_fs *fs, const struct node *n, char name[JOB_ID_LEN + 8])
{
	bool job = n->kind != N_SESSION_FINAL;
	int fd = store_output_dirfd(core_store(fs->core), n->sid, job);

	snprintf(name, JOB_ID_LEN + 8, "%s", job ? n->jid : "final_mix.wav");
	if (job)
		strcat(name, ".wav");
	return fd == -ELOOP || fd == -EXDEV ? -ENOENT : fd;
}

/* lstat of a mix node's file; -ENOENT unless it is a regular file. */
static int output_stat(struct mixfs_fs *fs, const struct node *n, struct stat *s)
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
static int stem_stat(struct mixfs_fs *fs, const char *sid, const char *name, struct stat *s)
{
	int fd = stems_dir(fs, sid), rc = 0;

	if (fd < 0)
		return fd;
	if ((name ? fstatat(fd, name, s, AT_SYMLINK_NOFOLLOW) : fstat(fd, s)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ---- attributes ---- */

static void attr_base(struct stat *s, mode_t mode, uid_t uid, gid_t gid)
{
	memset(s, 0, sizeof(*s));
	s->st_mode = mode;
	s->st_nlink = S_ISDIR(mode) ? 2 : 1;
	s->st_uid = uid;
	s->st_gid = gid;
	s->st_blksize = 4096;
}

static void attr_time(struct stat *s, util_ms t)
{
	s->st_mtim.tv_sec = s->st_ctim.tv_sec = s->st_atim.tv_sec = (time_t)(t / 1000);
	s->st_mtim.tv_nsec = s->st_ctim.tv_nsec = s->st_atim.tv_nsec = (long)(t % 1000) * 1000000;
}

static int attr_rendered(struct mixfs_fs *fs, const struct node *n, struct stat *s)
{
	char *buf;
	size_t len;
	int rc = render_node(fs->core, n, &buf, &len);

	if (rc)
		return rc;
	free(buf);
	s->st_size = (off_t)len;
	return 0;
}

static int attr_job(struct mixfs_fs *fs, const struct node *n, struct stat *s)
{
	struct core_job_brief b;
	struct stat ss;
	int rc;

	if ((rc = core_job_brief(fs->core, n->jid, &b)) || (rc = session_stat(fs, b.sid, &ss)))
		return rc;
	if (b.owner_uid >= 0)
		ss.st_uid = (uid_t)b.owner_uid;
	if (n->kind == N_JOB) {
		attr_base(s, S_IFDIR | 0755, ss.st_uid, ss.st_gid);
	} else if (n->kind == N_JOB_LINK) {
		attr_base(s, S_IFLNK | 0777, ss.st_uid, ss.st_gid);
		s->st_size = (off_t)(strlen("../sessions//jobs/") + strlen(b.sid) + JOB_ID_LEN);
	} else if (n->jf == JF_FINAL_MIX) {
		if (b.state != JOB_COMPLETE)
			return -ENOENT;
		if ((rc = output_stat(fs, n, s)))
			return rc;
		s->st_mode = S_IFREG | 0444;
		return 0;
	} else {
		attr_base(s, S_IFREG | (n->jf == JF_CTL ? 0644 : 0444), ss.st_uid, ss.st_gid);
		if (n->jf != JF_WAIT && (rc = attr_rendered(fs, n, s)))
			return rc;
	}
	attr_time(s, b.updated_at);
	return 0;
}

static int attr_request_file(struct mixfs_fs *fs, const struct node *n, struct stat *s)
{
	struct drop *d = drop_get(&fs->drops, n->sid, n->name);
	char jid[JOB_ID_LEN + 1];
	struct core_job_brief b;
	struct stat ss;

	if (d) {
		attr_base(s, S_IFREG, 0, 0);
		drop_stat(d, s);
		drop_put(d);
		return 0;
	}
	if (core_receipt(fs->core, n->sid, n->name, jid) || core_job_brief(fs->core, jid, &b) ||
	    session_stat(fs, n->sid, &ss))
		return -ENOENT;
	attr_base(s, S_IFREG | 0644, b.owner_uid >= 0 ? (uid_t)b.owner_uid : ss.st_uid, ss.st_gid);
	s->st_size = JOB_ID_LEN + 1;
	attr_time(s, b.created_at);
	return 0;
}

static int node_attr(struct mixfs_fs *fs, const struct node *n, struct stat *s)
{
	struct stat ss;
	int rc = 0;

	switch (n->kind) {
	case N_ROOT:
	case N_JOB_LINKS:
		attr_base(s, S_IFDIR | 0755, getuid(), getgid());
		break;
	case N_SESSIONS:
		attr_base(s, S_IFDIR | 01777, getuid(), getgid());
		break;
	case N_README:
	case N_STATS:
		attr_base(s, S_IFREG | 0444, getuid(), getgid());
		rc = attr_rendered(fs, n, s);
		attr_time(s, util_now_ms());
		break;
	case N_SESSION:
	case N_REQUESTS:
	case N_SESSION_JOBS:
		if ((rc = session_stat(fs, n->sid, &ss)))
			break;
		*s = ss;
		s->st_mode = S_IFDIR | 0755;
		break;
	case N_STEMS:
	case N_STEM_FILE:
		rc = stem_stat(fs, n->sid, n->kind == N_STEMS ? NULL : n->name, s);
		break;
	case N_LATEST: {
		char jid[JOB_ID_LEN + 1];

		if ((rc = core_session_latest(fs->core, n->sid, jid)) || (rc = session_stat(fs, n->sid, &ss)))
			break;
		attr_base(s, S_IFLNK | 0777, ss.st_uid, ss.st_gid);
		s->st_size = (off_t)strlen("jobs/") + JOB_ID_LEN;
		break;
	}
	case N_SESSION_FINAL:
		if (!(rc = output_stat(fs, n, s)))
			s->st_mode = S_IFREG | 0444;
		break;
	case N_REQUEST_FILE:
		rc = attr_request_file(fs, n, s);
		break;
	case N_JOB:
	case N_JOB_FILE:
	case N_JOB_LINK:
		rc = attr_job(fs, n, s);
		break;
	}
	if (!rc)
		s->st_ino = n->ino;
	return rc;
}

/* How long the kernel may trust a node's attributes. Synthetic files
 * change size under the reader: 0. Mixes are immutable once there (the
 * session's final_mix.wav is invalidated when a new one is published). */
static double attr_timeout(const struct node *n)
{
	switch (n->kind) {
	case N_SESSION:
	case N_STEMS:
	case N_REQUESTS:
	case N_SESSION_JOBS:
	case N_JOB:
	case N_JOB_LINK:
	case N_STEM_FILE:
	case N_SESSION_FINAL:
		return DIR_TIMEOUT;
	case N_JOB_FILE:
		return n->jf == JF_FINAL_MIX ? DIR_TIMEOUT : FILE_TIMEOUT;
	default:
		return FILE_TIMEOUT;
	}
}

/* How long a name may be trusted: names of jobs and their files do not
 * change, and deleted jobs are dropped from the kernel when they go;
 * names in requests/ move between drafts and receipts. */
static double entry_timeout(const struct node *n)
{
	switch (n->kind) {
	case N_REQUEST_FILE:
	case N_LATEST:
	case N_SESSION_FINAL:
	case N_README:
	case N_STATS:
		return 0;
	default:
		return DIR_TIMEOUT;
	}
}

/* ---- routing: the child @name of @p ---- */

static int child_job_file(struct mixfs_fs *fs, const struct node *p, const char *name, struct node *c)
{
	for (int i = 0; i < JF_COUNT; i++)
		if (strcmp(name, fs_job_file_names[i]) == 0)
			return nodes_get(&fs->nodes, N_JOB_FILE, p->sid, p->jid, NULL, (enum job_file)i, c);
	return -ENOENT;
}

static int child_of(struct mixfs_fs *fs, const struct node *p, const char *name, struct node *c)
{
	static const struct { const char *name; fuse_ino_t ino; } root[] = {
		{ "README", FS_INO_README }, { "stats", FS_INO_STATS },
		{ "sessions", FS_INO_SESSIONS }, { "jobs", FS_INO_JOBS },
	};
	static const struct { const char *name; enum node_kind kind; } session[] = {
		{ "stems", N_STEMS }, { "requests", N_REQUESTS }, { "jobs", N_SESSION_JOBS },
		{ "latest", N_LATEST }, { "final_mix.wav", N_SESSION_FINAL },
	};
	struct core_job_brief b;
	struct stat ss;

	switch (p->kind) {
	case N_ROOT:
		for (size_t i = 0; i < sizeof(root) / sizeof(*root); i++)
			if (strcmp(name, root[i].name) == 0)
				return nodes_find(&fs->nodes, root[i].ino, c);
		return -ENOENT;
	case N_SESSIONS:
		if (session_stat(fs, name, &ss))
			return -ENOENT;
		return nodes_get(&fs->nodes, N_SESSION, name, NULL, NULL, 0, c);
	case N_JOB_LINKS:
		if (!job_id_valid(name) || core_job_brief(fs->core, name, &b))
			return -ENOENT;
		return nodes_get(&fs->nodes, N_JOB_LINK, b.sid, name, NULL, 0, c);
	case N_SESSION:
		for (size_t i = 0; i < sizeof(session) / sizeof(*session); i++)
			if (strcmp(name, session[i].name) == 0)
				return nodes_get(&fs->nodes, session[i].kind, p->sid, NULL, NULL, 0, c);
		return -ENOENT;
	case N_STEMS:
		return nodes_get(&fs->nodes, N_STEM_FILE, p->sid, NULL, name, 0, c);
	case N_REQUESTS:
		return nodes_get(&fs->nodes, N_REQUEST_FILE, p->sid, NULL, name, 0, c);
	case N_SESSION_JOBS:
		if (!job_id_valid(name) || core_job_brief(fs->core, name, &b) ||
		    strcmp(b.sid, p->sid) != 0)
			return -ENOENT;
		return nodes_get(&fs->nodes, N_JOB, p->sid, name, NULL, 0, c);
	case N_JOB:
		return child_job_file(fs, p, name, c);
	default:
		return -ENOTDIR;
	}
}

static int reply_entry_for(struct mixfs_fs *fs, fuse_req_t req, const struct node *c)
{
	struct fuse_entry_param e = { 0 };
	int rc = node_attr(fs, c, &e.attr);

	if (rc)
		return rc;
	e.ino = c->ino;
	e.attr_timeout = attr_timeout(c);
	e.entry_timeout = entry_timeout(c);
	nodes_ref(&fs->nodes, c->ino);
	if (fuse_reply_entry(req, &e))
		nodes_forget(&fs->nodes, c->ino, 1);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct node p, c;
	int rc = strnlen(name, 256) > 255 ? -ENAMETOOLONG : nodes_find(&fs->nodes, parent, &p);

	if (!rc)
		rc = child_of(fs, &p, name, &c);
	if (!rc)
		rc = reply_entry_for(fs, req, &c);
	if (rc)
		fuse_reply_err(req, -rc);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	nodes_forget(&fs->nodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	for (size_t i = 0; i < count; i++)
		nodes_forget(&fs->nodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct node n;
	struct stat s;
	int rc;

	(void)fi;
	if ((rc = nodes_find(&fs->nodes, ino, &n)) || (rc = node_attr(fs, &n, &s)))
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &s, attr_timeout(&n));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	char target[512], jid[JOB_ID_LEN + 1];
	struct node n;

	if (nodes_find(&fs->nodes, ino, &n)) {
		fuse_reply_err(req, ENOENT);
	} else if (n.kind == N_LATEST) {
		if (core_session_latest(fs->core, n.sid, jid))
			fuse_reply_err(req, ENOENT);
		else
			snprintf(target, sizeof(target), "jobs/%s", jid), fuse_reply_readlink(req, target);
	} else if (n.kind == N_JOB_LINK) {
		snprintf(target, sizeof(target), "../sessions/%s/jobs/%s", n.sid, n.jid);
		fuse_reply_readlink(req, target);
	} else {
		fuse_reply_err(req, EINVAL);
	}
}

/* ---- directories ---- */

static int snap_add(struct handle *h, size_t *cap, const char *name, fuse_ino_t ino, mode_t type)
{
	if (h->n_ents == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct dirent_snap *v = realloc(h->ents, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->ents = v;
		*cap = nc;
	}
	snprintf(h->ents[h->n_ents].name, sizeof(h->ents[0].name), "%s", name);
	h->ents[h->n_ents].ino = ino;
	h->ents[h->n_ents].type = type;
	h->n_ents++;
	return 0;
}

static int snap_names(struct mixfs_fs *fs, struct handle *h, size_t *cap, char **names, size_t n,
		      enum node_kind kind, const char *sid, mode_t type)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (!rc)
			rc = snap_add(h, cap, names[i],
				      nodes_peek_ino(&fs->nodes, kind, kind == N_SESSION ? names[i] : sid, NULL,
						     kind == N_SESSION ? NULL : names[i], 0), type);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int snap_jobs(struct mixfs_fs *fs, struct handle *h, size_t *cap, const char *sid, enum node_kind kind, mode_t type)
{
	core_jid *ids;
	size_t n;
	int rc = core_session_jobs(fs->core, sid, &ids, &n);

	for (size_t i = 0; !rc && i < n; i++)
		rc = snap_add(h, cap, ids[i], nodes_peek_ino(&fs->nodes, kind, sid, ids[i], NULL, 0), type);
	free(ids);
	return rc;
}

static bool name_in(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Receipts, then drafts not shadowed by a receipt of the same name (a
 * request being rewritten). */
static int snap_requests(struct mixfs_fs *fs, struct handle *h, size_t *cap, const char *sid)
{
	char **names, **drafts;
	size_t n, nd;
	int rc = core_receipt_names(fs->core, sid, &names, &n);

	if (rc)
		return rc;
	rc = drop_names(&fs->drops, sid, &drafts, &nd);
	for (size_t i = 0; !rc && i < nd; i++)
		if (!name_in(names, n, drafts[i]))
			rc = snap_add(h, cap, drafts[i],
				      nodes_peek_ino(&fs->nodes, N_REQUEST_FILE, sid, NULL, drafts[i], 0), S_IFREG);
	for (size_t i = 0; drafts && i < nd; i++)
		free(drafts[i]);
	free(drafts);
	return snap_names(fs, h, cap, names, n, N_REQUEST_FILE, sid, S_IFREG) ? -ENOMEM : rc;
}

static int snap_stems(struct mixfs_fs *fs, struct handle *h, size_t *cap, const char *sid)
{
	struct dirent *e;
	int fd = stems_dir(fs, sid), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -ENOENT;
	}
	while (!rc && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = snap_add(h, cap, e->d_name,
				      nodes_peek_ino(&fs->nodes, N_STEM_FILE, sid, NULL, e->d_name, 0),
				      (mode_t)(e->d_type == DT_DIR ? S_IFDIR
					       : e->d_type == DT_LNK ? S_IFLNK : S_IFREG));
	closedir(d);
	return rc;
}

static int snap_dir(struct mixfs_fs *fs, struct handle *h, const struct node *n)
{
	size_t cap = 0;
	char **names;
	size_t count;
	struct core_job_brief b;
	struct node tmp;
	int rc = snap_add(h, &cap, ".", n->ino, S_IFDIR);

	if (!rc)
		rc = snap_add(h, &cap, "..", FS_INO_ROOT, S_IFDIR);
	switch (n->kind) {
	case N_ROOT:
		rc = rc ? rc : snap_add(h, &cap, "README", FS_INO_README, S_IFREG);
		rc = rc ? rc : snap_add(h, &cap, "stats", FS_INO_STATS, S_IFREG);
		rc = rc ? rc : snap_add(h, &cap, "sessions", FS_INO_SESSIONS, S_IFDIR);
		rc = rc ? rc : snap_add(h, &cap, "jobs", FS_INO_JOBS, S_IFDIR);
		return rc;
	case N_SESSIONS:
	case N_JOB_LINKS:
		if (rc || (rc = core_session_list(fs->core, &names, &count)))
			return rc;
		if (n->kind == N_SESSIONS)
			return snap_names(fs, h, &cap, names, count, N_SESSION, NULL, S_IFDIR);
		for (size_t i = 0; i < count; i++) {
			if (!rc)
				rc = snap_jobs(fs, h, &cap, names[i], N_JOB_LINK, S_IFLNK);
			free(names[i]);
		}
		free(names);
		return rc;
	case N_SESSION:
		rc = rc ? rc : snap_add(h, &cap, "stems", nodes_peek_ino(&fs->nodes, N_STEMS, n->sid, NULL, NULL, 0), S_IFDIR);
		rc = rc ? rc : snap_add(h, &cap, "requests", nodes_peek_ino(&fs->nodes, N_REQUESTS, n->sid, NULL, NULL, 0), S_IFDIR);
		rc = rc ? rc : snap_add(h, &cap, "jobs", nodes_peek_ino(&fs->nodes, N_SESSION_JOBS, n->sid, NULL, NULL, 0), S_IFDIR);
		for (int i = 0; i < 2 && !rc; i++) {
			const char *name = i ? "final_mix.wav" : "latest";
			struct stat s;

			if (child_of(fs, n, name, &tmp) == 0 && node_attr(fs, &tmp, &s) == 0)
				rc = snap_add(h, &cap, name, tmp.ino, s.st_mode & S_IFMT);
		}
		return rc;
	case N_STEMS:
		return rc ? rc : snap_stems(fs, h, &cap, n->sid);
	case N_REQUESTS:
		return rc ? rc : snap_requests(fs, h, &cap, n->sid);
	case N_SESSION_JOBS:
		return rc ? rc : snap_jobs(fs, h, &cap, n->sid, N_JOB, S_IFDIR);
	case N_JOB:
		if (rc || (rc = core_job_brief(fs->core, n->jid, &b)))
			return rc;
		for (int i = 0; !rc && i < JF_COUNT; i++)
			if (i != JF_FINAL_MIX || b.state == JOB_COMPLETE)
				rc = snap_add(h, &cap, fs_job_file_names[i],
					      nodes_peek_ino(&fs->nodes, N_JOB_FILE, n->sid, n->jid, NULL, (enum job_file)i),
					      S_IFREG);
		return rc;
	default:
		return -ENOTDIR;
	}
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct node n;
	struct handle *h;
	int rc = nodes_find(&fs->nodes, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!(h = handle_new(H_DIR, &n, req_uid(req)))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((rc = snap_dir(fs, h, &n))) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	if (handle_publish(fs, h, fi)) {
		handle_free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi))
		handle_put(fs, handle_retire(fs, fi));
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	char *buf = malloc(size);
	size_t used = 0;

	(void)ino;
	if (!buf) {
		handle_put(fs, h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < h->n_ents; i++) {
		struct stat s = { .st_ino = h->ents[i].ino, .st_mode = h->ents[i].type };
		size_t need = fuse_add_direntry(req, buf + used, size - used, h->ents[i].name,
						&s, (off_t)(i + 1));

		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	handle_put(fs, h);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct handle *h = handle_retire(fs, fi);

	(void)ino;
	if (h)
		handle_put(fs, h);
	fuse_reply_err(req, 0);
}

/* ---- the drop box ---- */

/* Submit what @d holds as a request, if it is one: a plain name, bytes
 * written since the last submit. Returns 0 or the errno close() reports. */
static int drop_submit(struct mixfs_fs *fs, struct drop *d, uid_t uid)
{
	char jid[JOB_ID_LEN + 1], err[REQUEST_ERR_MAX + 64], name[256], *text;
	size_t len;
	bool listed, dirty, big;
	int rc;

	drop_flags(d, name, &listed, &dirty, &big);
	if (big) {
		drop_unlink(&fs->drops, d->sid, name);
		return -EFBIG;
	}
	if (request_name_is_draft(name) || !listed)
		return 0;
	if ((rc = drop_snapshot(d, &text, &len, &dirty)))
		return rc;
	if (!dirty || len == 0) {
		free(text);
		return 0; /* an empty file is not a request (yet) */
	}
	rc = core_submit(fs->core, d->sid, name, text, len, (long)uid, util_now_ms(), jid,
			 err, sizeof(err));
	free(text);
	drop_mark_clean(d);
	/* the receipt takes its place, or nothing: a request the store could
	 * not take is not kept half-accepted */
	drop_unlink(&fs->drops, d->sid, name);
	if (rc == -EINVAL)
		log_info("session %s: request %s rejected (job %s): %s", d->sid, name, jid, err);
	else if (rc && rc != -EDQUOT)
		log_error("session %s: request %s: %s", d->sid, name, err);
	return rc;
}

static int open_drop(struct mixfs_fs *fs, fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
		     struct handle **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct drop *d = drop_get(&fs->drops, n->sid, n->name);
	char jid[JOB_ID_LEN + 1];
	int rc;

	if (writing && (rc = may_write_session(fs, n->sid, ctx->uid))) {
		if (d)
			drop_put(d);
		return rc;
	}
	if (!d && writing) /* (re)writing a receipt's name: a new request */
		d = drop_create(&fs->drops, n->sid, n->name, ctx->uid, ctx->gid, 0644);
	else if (d && (fi->flags & O_TRUNC))
		drop_truncate(d, 0);
	if (!d) { /* reading a receipt */
		if (core_receipt(fs->core, n->sid, n->name, jid))
			return -ENOENT;
		*out = handle_new(H_BUF, n, ctx->uid);
		if (!*out)
			return -ENOMEM;
		return render_node(fs->core, n, &(*out)->buf, &(*out)->len);
	}
	*out = handle_new(H_DROP, n, ctx->uid);
	if (!*out) {
		drop_put(d);
		return -ENOMEM;
	}
	(*out)->drop = d;
	return 0;
}

/* ---- files ---- */

static int open_passthrough(struct mixfs_fs *fs, const struct node *n, int flags, struct handle *h)
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

static bool node_writable(const struct node *n)
{
	return n->kind == N_STEM_FILE || n->kind == N_REQUEST_FILE ||
	       (n->kind == N_JOB_FILE && n->jf == JF_CTL);
}

static int open_node(struct mixfs_fs *fs, fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
		     struct handle **out)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	uid_t uid = req_uid(req);
	enum h_kind kind = H_BUF;
	struct core_job_brief b;
	int rc;

	/* root passes mode bits even with default_permissions: refuse here */
	if (writing && !node_writable(n))
		return -EACCES;
	if (n->kind == N_REQUEST_FILE)
		return open_drop(fs, req, n, fi, out);
	if (n->kind == N_STEM_FILE && writing && (rc = may_write_session(fs, n->sid, uid)))
		return rc;
	if (n->kind == N_JOB_FILE && n->jf == JF_CTL && writing) {
		if ((rc = core_job_brief(fs->core, n->jid, &b)))
			return rc;
		if (uid != 0 && b.owner_uid >= 0 && (uid_t)b.owner_uid != uid)
			return -EACCES;
		kind = H_CTL;
	}
	if (n->kind == N_STEM_FILE || n->kind == N_SESSION_FINAL ||
	    (n->kind == N_JOB_FILE && n->jf == JF_FINAL_MIX))
		kind = H_FD;
	if (n->kind == N_JOB_FILE && n->jf == JF_WAIT)
		kind = H_WAIT;
	if (!(*out = handle_new(kind, n, uid)))
		return -ENOMEM;
	if (kind == H_FD)
		return open_passthrough(fs, n, fi->flags, *out);
	if (kind == H_BUF)
		return render_node(fs->core, n, &(*out)->buf, &(*out)->len);
	return core_job_brief(fs->core, n->jid, &b);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct handle *h = NULL;
	struct node n;
	int rc = nodes_find(&fs->nodes, ino, &n);

	if (!rc)
		rc = open_node(fs, req, &n, fi, &h);
	if (rc) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	/* synthetic files: no page cache, so a read is never stale */
	fi->direct_io = h->kind != H_FD;
	/* nothing to judge at close but a drop: spare the FLUSH round trip */
	fi->noflush = h->kind != H_DROP && h->kind != H_FD;
	/* a job's mix never changes; the session's is invalidated when replaced */
	fi->keep_cache = h->kind == H_FD && n.kind != N_STEM_FILE;
	if (handle_publish(fs, h, fi)) {
		handle_free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi))
		handle_put(fs, handle_retire(fs, fi));
}

static void reply_slice(fuse_req_t req, const char *buf, size_t len, size_t size, off_t off)
{
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static void read_wait(struct mixfs_fs *fs, fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	char line[32];
	struct core_job_brief b;
	int rc = core_job_brief(fs->core, h->node.jid, &b);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!job_state_is_final(b.state)) {
		events_wait(fs, req, h->node.jid);
		return;
	}
	/* a final state never changes: every read may render its own copy,
	 * so concurrent reads of one handle share nothing */
	snprintf(line, sizeof(line), "%s\n", job_state_name(b.state));
	reply_slice(req, line, strlen(line), size, off);
}

static void read_handle(struct mixfs_fs *fs, fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	char *text;
	size_t len;

	switch (h->kind) {
	case H_FD:
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	case H_WAIT:
		read_wait(fs, req, h, size, off);
		return;
	case H_DROP:
		if (drop_snapshot(h->drop, &text, &len, NULL)) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		reply_slice(req, text, len, size, off);
		free(text);
		return;
	default:
		reply_slice(req, h->buf, h->len, size, off);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	(void)ino;
	read_handle(fs, req, h, size, off);
	handle_put(fs, h);
}

static int ctl_command(struct mixfs_fs *fs, struct handle *h, fuse_req_t req)
{
	char cmd[CTL_MAX + 1];
	size_t n = h->len;

	memcpy(cmd, h->buf, n);
	cmd[n] = '\0';
	while (n && (cmd[n - 1] == '\n' || cmd[n - 1] == ' ' || cmd[n - 1] == '\r'))
		cmd[--n] = '\0';
	if (!n)
		return 0; /* more may come */
	h->len = 0;
	if (strcmp(cmd, "cancel") != 0)
		return -EINVAL;
	return core_cancel(fs->core, h->node.jid, (long)req_uid(req), util_now_ms());
}

static void write_handle(struct mixfs_fs *fs, fuse_req_t req, struct handle *h, const char *buf, size_t size,
			 off_t off)
{
	ssize_t n;
	int rc = 0;

	switch (h->kind) {
	case H_FD:
		n = pwrite(h->fd, buf, size, off);
		if (n < 0)
			fuse_reply_err(req, errno);
		else
			fuse_reply_write(req, (size_t)n);
		return;
	case H_DROP:
		rc = drop_write(h->drop, buf, size, off);
		break;
	case H_CTL:
		pthread_mutex_lock(&h->lock);
		if (h->len + size > CTL_MAX)
			rc = -EINVAL;
		else if (!h->buf && !(h->buf = malloc(CTL_MAX + 1)))
			rc = -ENOMEM;
		if (!rc) {
			memcpy(h->buf + h->len, buf, size);
			h->len += size;
			rc = ctl_command(fs, h, req);
		}
		pthread_mutex_unlock(&h->lock);
		break;
	default:
		rc = -EACCES;
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	(void)ino;
	write_handle(fs, req, h, buf, size, off);
	handle_put(fs, h);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	int rc = 0;

	(void)ino;
	if (h->kind == H_DROP)
		rc = drop_submit(fs, h->drop, h->uid);
	handle_put(fs, h);
	fuse_reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct handle *h = handle_retire(fs, fi);
	char name[256];
	bool listed, dirty, big;

	(void)ino;
	if (h && h->kind == H_DROP) {
		drop_flags(h->drop, name, &listed, &dirty, &big);
		if (dirty) /* no flush came: nobody hears an error now */
			drop_submit(fs, h->drop, h->uid);
	}
	if (h)
		handle_put(fs, h);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	int rc = 0;

	(void)ino;
	if (h->kind == H_FD && (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		rc = errno;
	handle_put(fs, h);
	fuse_reply_err(req, rc);
}

/* A name a user gives a new file: a plain name; in requests/ also text
 * that can go into the job's record as it is (valid UTF-8, no control
 * characters). */
static int new_name_check(const struct node *dir, const char *name)
{
	int rc = util_plain_name_check(name);

	if (!rc && dir->kind == N_REQUESTS && !util_valid_text(name))
		rc = -EILSEQ;
	return rc;
}

/* A new stem, made by name in stems/ and given to its writer. */
static int stem_create(struct mixfs_fs *fs, const char *sid, const char *name, int flags, mode_t mode,
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

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct handle *h = NULL;
	struct node p, c;
	struct fuse_entry_param e = { 0 };
	int rc = nodes_find(&fs->nodes, parent, &p);

	if (!rc && p.kind != N_REQUESTS && p.kind != N_STEMS)
		rc = -EACCES;
	if (!rc)
		rc = new_name_check(&p, name);
	if (!rc)
		rc = may_write_session(fs, p.sid, ctx->uid);
	if (!rc)
		rc = child_of(fs, &p, name, &c);
	if (!rc && !(h = handle_new(p.kind == N_REQUESTS ? H_DROP : H_FD, &c, ctx->uid)))
		rc = -ENOMEM;
	if (!rc && p.kind == N_REQUESTS) {
		if (!(h->drop = drop_create(&fs->drops, p.sid, name, ctx->uid, ctx->gid, mode & ~ctx->umask)))
			rc = -ENOMEM;
	} else if (!rc) {
		rc = stem_create(fs, p.sid, name, fi->flags, mode & ~ctx->umask & 0777, ctx, h);
	}
	if (!rc)
		rc = node_attr(fs, &c, &e.attr);
	if (rc) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = c.ino;
	e.attr_timeout = attr_timeout(&c);
	e.entry_timeout = entry_timeout(&c);
	fi->direct_io = h->kind == H_DROP;
	if (handle_publish(fs, h, fi)) {
		handle_free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	nodes_ref(&fs->nodes, c.ino);
	if (fuse_reply_create(req, &e, fi)) {
		nodes_forget(&fs->nodes, c.ino, 1);
		handle_put(fs, handle_retire(fs, fi));
	}
}

static int setattr_drop(struct mixfs_fs *fs, const struct node *n, struct stat *attr, int to_set,
			const struct fuse_ctx *ctx)
{
	struct drop *d = drop_get(&fs->drops, n->sid, n->name);
	struct timespec now;
	int rc = 0;

	if (!d) {
		/* a receipt: truncating it starts a new request under its name;
		 * times and mode are accepted and change nothing */
		if (!(to_set & FUSE_SET_ATTR_SIZE))
			return 0;
		if ((rc = may_write_session(fs, n->sid, ctx->uid)))
			return rc;
		if (!(d = drop_create(&fs->drops, n->sid, n->name, ctx->uid, ctx->gid, 0644)))
			return -ENOMEM;
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		rc = drop_truncate(d, attr->st_size);
	if (to_set & FUSE_SET_ATTR_MODE)
		drop_set_mode(d, attr->st_mode);
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		clock_gettime(CLOCK_REALTIME, &now);
		drop_set_times(d, (to_set & FUSE_SET_ATTR_MTIME_NOW) ? &now : &attr->st_mtim);
	}
	drop_put(d);
	return rc;
}

static int setattr_stem(struct mixfs_fs *fs, const struct node *n, struct stat *attr, int to_set)
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

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	uid_t uid = req_uid(req);
	struct node n;
	struct stat s;
	int rc = nodes_find(&fs->nodes, ino, &n);

	(void)fi;
	if (!rc && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = -EPERM;
	else if (!rc && n.kind == N_REQUEST_FILE)
		rc = setattr_drop(fs, &n, attr, to_set, fuse_req_ctx(req));
	else if (!rc && n.kind == N_STEM_FILE)
		rc = (rc = may_write_session(fs, n.sid, uid)) ? rc : setattr_stem(fs, &n, attr, to_set);
	else if (!rc)
		rc = -EACCES;
	if (!rc)
		rc = node_attr(fs, &n, &s);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &s, attr_timeout(&n));
}

/* ---- names ---- */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node p, c;
	int rc = nodes_find(&fs->nodes, parent, &p);

	(void)mode;
	if (!rc && p.kind != N_SESSIONS)
		rc = -EPERM;
	if (!rc && !util_valid_session_id(name))
		rc = -EINVAL;
	if (!rc)
		rc = core_session_create(fs->core, name, ctx->uid, ctx->gid);
	if (!rc)
		rc = child_of(fs, &p, name, &c);
	if (!rc)
		rc = reply_entry_for(fs, req, &c);
	if (rc)
		fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct node p;
	int rc = nodes_find(&fs->nodes, parent, &p);

	if (!rc && p.kind == N_SESSION_JOBS)
		rc = job_id_valid(name) ? core_delete(fs->core, name, (long)req_uid(req)) : -ENOENT;
	else if (!rc)
		rc = -EPERM;
	fuse_reply_err(req, -rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	uid_t uid = req_uid(req);
	char jid[JOB_ID_LEN + 1];
	struct node p;
	int rc = nodes_find(&fs->nodes, parent, &p);

	if (!rc && (p.kind == N_REQUESTS || p.kind == N_STEMS))
		rc = may_write_session(fs, p.sid, uid);
	else if (!rc)
		rc = -EPERM;
	if (!rc && p.kind == N_REQUESTS) {
		rc = drop_unlink(&fs->drops, p.sid, name);
		if (rc == -ENOENT && core_receipt(fs->core, p.sid, name, jid) == 0)
			rc = -EPERM; /* a receipt stays until its job expires */
	} else if (!rc) {
		int dfd = stems_dir(fs, p.sid);

		if ((rc = dfd < 0 ? dfd : 0) == 0 && unlinkat(dfd, name, 0) < 0)
			rc = -errno;
		if (dfd >= 0)
			close(dfd);
	}
	fuse_reply_err(req, -rc);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	uid_t uid = req_uid(req);
	char from[JOB_ID_LEN + 1];
	struct node p;
	struct drop *d;
	int rc = nodes_find(&fs->nodes, parent, &p);

	if (!rc && newparent != parent)
		rc = -EXDEV;
	else if (!rc && (flags & RENAME_EXCHANGE))
		rc = -EINVAL;
	else if (!rc && p.kind != N_REQUESTS && p.kind != N_STEMS)
		rc = -EPERM;
	if (!rc)
		rc = may_write_session(fs, p.sid, uid);
	if (!rc)
		rc = new_name_check(&p, newname);
	if (!rc && p.kind == N_STEMS) {
		int dfd = stems_dir(fs, p.sid);

		if ((rc = dfd < 0 ? dfd : 0) == 0 && renameat2(dfd, name, dfd, newname, flags) < 0)
			rc = -errno;
		if (dfd >= 0)
			close(dfd);
	} else if (!rc) {
		/* write-then-rename: a draft renamed to a plain name is dropped */
		rc = drop_rename(&fs->drops, p.sid, name, newname);
		if (rc == -ENOENT && core_receipt(fs->core, p.sid, name, from) == 0)
			rc = -EPERM;
		if (!rc && (d = drop_get(&fs->drops, p.sid, newname))) {
			rc = drop_submit(fs, d, uid);
			drop_put(d);
		}
	}
	fuse_reply_err(req, -rc);
}

/* ---- the rest ---- */

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct handle *h = handle_get(fs, fi);
	struct core_job_brief b;
	unsigned revents = POLLIN | POLLRDNORM;

	(void)ino;
	if (!h) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_err(req, EBADF);
		return;
	}
	if (h->kind == H_BUF && h->node.kind == N_JOB_FILE && h->node.jf == JF_STATE &&
	    core_job_brief(fs->core, h->node.jid, &b) == 0) {
		/* readable data is always there; POLLPRI says it changed since open */
		if (strncmp(h->buf, job_state_name(b.state), strlen(job_state_name(b.state))) != 0 ||
		    h->buf[strlen(job_state_name(b.state))] != '\n')
			revents |= POLLPRI;
		else if (ph) {
			events_poll(fs, h->node.jid, ph);
			ph = NULL;
		}
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	handle_put(fs, h);
	fuse_reply_poll(req, revents);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, ENOTSUP);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino, (void)name, (void)size;
	fuse_reply_err(req, ENOTSUP);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct statvfs sv;

	(void)ino;
	if (statvfs(core_store(fs->core)->media, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~FUSE_CAP_POSIX_ACL;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.create = op_create,
	.poll = op_poll,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.statfs = op_statfs,
};
