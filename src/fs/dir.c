/*
 * dir.c - reading folders of the tree: a snapshot of the entries taken at
 * opendir, served by offset. See dir.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_impl.h"
#include "attr.h"
#include "disk.h"
#include "handles.h"
#include "router.h"
#include "dir.h"

static int snap_add(struct handle *h, size_t *cap, const char *name, fuse_ino_t ino, mode_t type)
{
	if (util_grow((void **)&h->ents, cap, h->n_ents, sizeof(*h->ents)))
		return -ENOMEM;
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

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	handle_reply_open(fs, req, h, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

/* What a lookup of entry @d of the folder @dir would answer; false when
 * the kernel gets no node for it: "." and "..", and a name gone since the
 * snapshot (the kernel then looks it up itself, and hears ENOENT). */
static bool plus_entry(struct mixfs_fs *fs, const struct node *dir, const struct dirent_snap *d,
		       struct fuse_entry_param *e)
{
	struct node c;

	memset(e, 0, sizeof(*e));
	if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0 ||
	    child_of(fs, dir, d->name, &c) || node_attr(fs, &c, &e->attr)) {
		e->attr.st_ino = d->ino;
		e->attr.st_mode = d->type;
		return false;
	}
	e->ino = c.ino;
	e->attr_timeout = attr_timeout(&c);
	e->entry_timeout = entry_timeout(&c);
	return true;
}

/*
 * readdir with each entry's attributes, as lookups would give them: an
 * `ls -l` of 100,000 jobs is then a few hundred requests rather than
 * 100,000 lookups. Every entry served with a node counts as a lookup of
 * it (the kernel forgets it later).
 */
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	char *buf = malloc(size);
	/* at most one entry per 48 bytes of buffer (the smallest record) */
	fuse_ino_t *refs = malloc(sizeof(*refs) * (size / 48 + 1));
	size_t used = 0, n_refs = 0;

	(void)ino;
	if (!buf || !refs) {
		free(buf);
		free(refs);
		handle_put(fs, h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < h->n_ents; i++) {
		struct fuse_entry_param e;
		bool linked = plus_entry(fs, &h->node, &h->ents[i], &e);
		size_t need = fuse_add_direntry_plus(req, buf + used, size - used, h->ents[i].name, &e,
						     (off_t)(i + 1));

		if (need > size - used)
			break;
		used += need;
		if (linked) {
			nodes_ref(&fs->nodes, e.ino);
			refs[n_refs++] = e.ino;
		}
	}
	if (fuse_reply_buf(req, buf, used))
		for (size_t k = 0; k < n_refs; k++)
			nodes_forget(&fs->nodes, refs[k], 1);
	free(buf);
	free(refs);
	handle_put(fs, h);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct handle *h = handle_retire(fs, fi);

	(void)ino;
	if (h)
		handle_put(fs, h);
	fuse_reply_err(req, 0);
}
