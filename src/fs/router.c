/*
 * router.c - the path router: which node is the child NAME of a folder of
 * the tree. See router.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_impl.h"
#include "disk.h"
#include "router.h"

static int child_job_file(struct mixfs_fs *fs, const struct node *p, const char *name, struct node *c)
{
	for (int i = 0; i < JF_COUNT; i++)
		if (strcmp(name, fs_job_file_names[i]) == 0)
			return nodes_get(&fs->nodes, N_JOB_FILE, p->sid, p->jid, NULL, (enum job_file)i, c);
	return -ENOENT;
}

int child_of(struct mixfs_fs *fs, const struct node *p, const char *name, struct node *c)
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

/* A name a user gives a new file: a plain name; in requests/ also text
 * that can go into the job's record as it is (valid UTF-8, no control
 * characters). */
int new_name_check(const struct node *dir, const char *name)
{
	int rc = util_plain_name_check(name);

	if (!rc && dir->kind == N_REQUESTS && !util_valid_text(name))
		rc = -EILSEQ;
	return rc;
}
