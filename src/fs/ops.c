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

#include "attr.h"
#include "dir.h"
#include "disk.h"
#include "files.h"
#include "fs_impl.h"
#include "handles.h"
#include "mixfs/log.h"
#include "mixfs/request.h"
#include "router.h"


/*
 * Files passed through to disk are reached by name in their folder, and
 * the folder is opened with no symlink on the way (store.h): the daemon is
 * root, and stems/ belongs to the session's user. A symlink where a stem
 * or a mix should be is refused (O_NOFOLLOW), never followed.
 */

/* ---- attributes ---- */

/* ---- routing: the child @name of @p ---- */

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

/* ---- the drop box ---- */

/* ---- files ---- */

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
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.create = op_create,
	.poll = op_poll,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.statfs = op_statfs,
};
