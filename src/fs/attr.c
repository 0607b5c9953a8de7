/*
 * attr.c - the attributes of nodes and how long the kernel may keep them.
 * See attr.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_impl.h"
#include "disk.h"
#include "attr.h"

#define DIR_TIMEOUT 1.0		/* names of sessions and jobs; dropped on delete */
#define FILE_TIMEOUT 0.0	/* synthetic files change under the reader */

void attr_base(struct stat *s, mode_t mode, uid_t uid, gid_t gid)
{
	memset(s, 0, sizeof(*s));
	s->st_mode = mode;
	s->st_nlink = S_ISDIR(mode) ? 2 : 1;
	s->st_uid = uid;
	s->st_gid = gid;
	s->st_blksize = 4096;
}

void attr_time(struct stat *s, util_ms t)
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

int node_attr(struct mixfs_fs *fs, const struct node *n, struct stat *s)
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

bool attr_text_settled(struct mixfs_fs *fs, const struct node *n)
{
	struct core_job_brief b;

	return n->kind == N_JOB_FILE && n->jf != JF_WAIT && n->jf != JF_CTL &&
	       n->jf != JF_FINAL_MIX && core_job_brief(fs->core, n->jid, &b) == 0 &&
	       job_state_is_final(b.state);
}

/* How long the kernel may trust a node's attributes. Synthetic files
 * change size under the reader: 0. Mixes are immutable once there (the
 * session's final_mix.wav is invalidated when a new one is published). */
double attr_timeout(const struct node *n)
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
		/* text files: an open whose text changed invalidates the size,
		 * and so does the notifier on every change (files.c, events.c) */
		return n->jf == JF_WAIT || n->jf == JF_CTL ? FILE_TIMEOUT : DIR_TIMEOUT;
	default:
		return FILE_TIMEOUT;
	}
}

/* How long a name may be trusted: names of jobs and their files do not
 * change, and deleted jobs are dropped from the kernel when they go;
 * names in requests/ move between drafts and receipts. */
double entry_timeout(const struct node *n)
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
