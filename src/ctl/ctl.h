/*
 * ctl.h - mixctl, the companion: everything it does goes through the
 * mounted tree (no private channel), so it works the same on every host
 * and over any mount. This header is what its files share: finding the
 * mount, naming a job by a unique prefix of its id, reading the tree's
 * small files, and the commands.
 *
 * Exit statuses (mixctl(1)): 0 done; 1 the work failed (a rejected
 * request, a failed job, a cancel or rm refused); 2 usage and lookup
 * errors (no mount, no such job or session, an ambiguous prefix); 130
 * interrupted. Every error is one line on stderr naming the problem.
 */
#ifndef MIXFS_CTL_H
#define MIXFS_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "mixfs/job.h"

#define CTL_OK 0
#define CTL_FAILED 1
#define CTL_USAGE 2
#define CTL_INTERRUPTED 130

/* The mount everything is read through, with no trailing slash. */
struct ctl {
	char mount[4096];
};

/* One line on stderr: "mixctl: ..." */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Find the mount: @explicit_mp (-m), else $MIXFS_MOUNT, else the one mixfs
 * mount in /proc/self/mounts. CTL_OK or CTL_USAGE (said why). */
int ctl_find_mount(struct ctl *c, const char *explicit_mp);

/* @prefix (or a whole id) as the one job it names, into @jid, with its
 * session in @sid. CTL_OK, or CTL_USAGE for none or several (said why). */
int ctl_resolve(const struct ctl *c, const char *prefix, char jid[JOB_ID_LEN + 1],
		char sid[JOB_SESSION_MAX + 1]);

/* A small file of the tree, whole, NUL-terminated, malloc'd; NULL with
 * errno set. Trailing newlines are kept. Read to end of file rather than
 * to st_size (util_read_file_alloc): `wait` reports no size. */
char *ctl_read(const char *path);
/* The path of a job's file @name ("state", ...) into @out (4096+). */
void ctl_job_path(const struct ctl *c, const char *sid, const char *jid, const char *name,
		  char *out, size_t len);
/* The job's record as the tree shows it (job_clear() it). 0 or -errno. */
int ctl_job_record(const struct ctl *c, const char *sid, const char *jid, struct job *out);

/* Commands: argc/argv after the command's name. Each returns an exit status. */
int ctl_submit(const struct ctl *c, int argc, char **argv);
int ctl_wait(const struct ctl *c, int argc, char **argv);
int ctl_ls(const struct ctl *c, int argc, char **argv);
int ctl_show(const struct ctl *c, int argc, char **argv);
int ctl_log(const struct ctl *c, int argc, char **argv);
int ctl_cancel(const struct ctl *c, int argc, char **argv);
int ctl_rm(const struct ctl *c, int argc, char **argv);
int ctl_stats(const struct ctl *c, int argc, char **argv);

#endif
