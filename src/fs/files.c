/*
 * files.c - the file operations: open, read, write, flush, release, create,
 * setattr. Synthetic files are rendered at open into the handle. A final
 * job's text files go through the page cache, which is kept only while
 * their text is the one it holds (keep_pages); the others are served with
 * direct_io, so every read shows the current state and no size needs to be
 * right in advance. See files.h.
 */
#include <poll.h>
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
#include "mixfs/log.h"
#include "mixfs/request.h"
#include "files.h"

#define CTL_MAX 64

/* Submit what @d holds as a request, if it is one: a plain name, bytes
 * written since the last submit. Returns 0 or the errno close() reports. */
int drop_submit(struct mixfs_fs *fs, struct drop *d, uid_t uid)
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
	rc = core_submit(fs->core, &(struct core_request){ d->sid, name, text, len, (long)uid },
				 util_now_ms(), jid, err, sizeof(err));
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

/*
 * Is the text just rendered for @n the one last served? Decided at every
 * open of a job's text, so a `cat` or `stat` after a change never gets
 * the old text or size, whether or not the notifier has invalidated them
 * yet: when the text changed, the kernel's pages and size of it go before
 * the open is answered.
 */
static bool keep_pages(struct mixfs_fs *fs, const struct node *n, const struct handle *h)
{
	if (nodes_served_same(&fs->nodes, n->ino, util_fnv1a(h->buf, h->len) ^ h->len))
		return true;
	fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
	return false;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	struct handle *h = NULL;
	struct node n;
	bool cached = false;
	int rc = nodes_find(&fs->nodes, ino, &n);

	/* A final job's texts go through the page cache: they are read far
	 * more often than anything else and cannot change any more. Judged
	 * before the text is rendered, so the text is the final one. */
	if (!rc)
		cached = attr_text_settled(fs, &n);
	if (!rc)
		rc = open_node(fs, req, &n, fi, &h);
	if (rc) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	/* Other synthetic files have no page cache, so each open reads its
	 * own text whole: the kernel's size is per file, not per open, and a
	 * text that changed between the open and a read could otherwise be
	 * cut to the old size or padded to the new one. */
	fi->direct_io = h->kind != H_FD;
	if (h->kind == H_BUF && n.kind == N_JOB_FILE) {
		fi->keep_cache = keep_pages(fs, &n, h) && cached;
		fi->direct_io = !cached;
	}
	/* nothing to judge at close but a drop: spare the FLUSH round trip */
	fi->noflush = h->kind != H_DROP && h->kind != H_FD;
	/* a job's mix never changes; the session's is invalidated when replaced */
	if (h->kind == H_FD)
		fi->keep_cache = n.kind != N_STEM_FILE;
	handle_reply_open(fs, req, h, fi);
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

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct mixfs_fs *fs = fuse_req_userdata(req);
	WITH_HANDLE(req, fi, h);
	(void)ino;
	write_handle(fs, req, h, buf, size, off);
	handle_put(fs, h);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
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

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
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

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
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
