/* tree.c - finding the mount and reading the tree for mixctl. See ctl.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

void ctl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mixctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool is_mixfs(const struct mntent *m)
{
	return strcmp(m->mnt_type, "fuse.mixfs") == 0 ||
	       (strcmp(m->mnt_type, "fuse") == 0 && strncmp(m->mnt_fsname, "mixfs", 5) == 0);
}

/* The one mixfs mount in /proc/self/mounts. */
static int mount_from_table(struct ctl *c)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	int found = 0;

	if (!f) {
		ctl_error("cannot read /proc/self/mounts: %s", strerror(errno));
		return CTL_USAGE;
	}
	while ((m = getmntent(f)))
		if (is_mixfs(m) && found++ == 0)
			snprintf(c->mount, sizeof(c->mount), "%s", m->mnt_dir);
	endmntent(f);
	if (found == 1)
		return CTL_OK;
	if (found == 0)
		ctl_error("no mixfs mount found; mount one, or name it with -m or $MIXFS_MOUNT");
	else
		ctl_error("%d mixfs mounts; name one with -m or $MIXFS_MOUNT", found);
	return CTL_USAGE;
}

int ctl_find_mount(struct ctl *c, const char *explicit_mp)
{
	const char *mp = explicit_mp ? explicit_mp : getenv("MIXFS_MOUNT");
	char probe[4200];
	struct stat st;
	size_t n;

	if (!mp || !*mp)
		return mount_from_table(c);
	snprintf(c->mount, sizeof(c->mount), "%s", mp);
	n = strlen(c->mount);
	while (n > 1 && c->mount[n - 1] == '/')
		c->mount[--n] = '\0';
	snprintf(probe, sizeof(probe), "%s/sessions", c->mount);
	if (stat(probe, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ctl_error("%s is not a mixfs mount (%s)", c->mount,
			  errno == ENOTCONN ? "its daemon is gone; fusermount3 -u it" : "no sessions/");
		return CTL_USAGE;
	}
	return CTL_OK;
}

/* The session a job belongs to, from its /jobs/JID symlink. */
static int job_session(const struct ctl *c, const char *jid, char sid[JOB_SESSION_MAX + 1])
{
	char path[4200], target[512];
	ssize_t n;
	const char *p, *q;

	snprintf(path, sizeof(path), "%s/jobs/%s", c->mount, jid);
	if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
		return -errno;
	target[n] = '\0';
	/* "../sessions/SID/jobs/JID" */
	if (!(p = strstr(target, "sessions/")) || !(q = strchr(p + 9, '/')) ||
	    q - (p + 9) > JOB_SESSION_MAX)
		return -EINVAL;
	snprintf(sid, JOB_SESSION_MAX + 1, "%.*s", (int)(q - (p + 9)), p + 9);
	return 0;
}

int ctl_resolve(const struct ctl *c, const char *prefix, char jid[JOB_ID_LEN + 1],
		char sid[JOB_SESSION_MAX + 1])
{
	char path[4200];
	size_t plen = strlen(prefix), found = 0;
	struct dirent *e;
	DIR *d;

	if (!plen || plen > JOB_ID_LEN) {
		ctl_error("%s: not a job id or a prefix of one", prefix);
		return CTL_USAGE;
	}
	snprintf(path, sizeof(path), "%s/jobs", c->mount);
	if (!(d = opendir(path))) {
		ctl_error("%s: %s", path, strerror(errno));
		return CTL_USAGE;
	}
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, plen) == 0 && strlen(e->d_name) == JOB_ID_LEN &&
		    found++ == 0)
			memcpy(jid, e->d_name, JOB_ID_LEN + 1);
	closedir(d);
	if (found != 1) {
		ctl_error(found ? "%s: ambiguous prefix (%zu jobs)" : "%s: no such job%.0zu", prefix,
			  found);
		return CTL_USAGE;
	}
	if (job_session(c, jid, sid)) {
		ctl_error("%s: no such job", prefix);
		return CTL_USAGE;
	}
	return CTL_OK;
}

char *ctl_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (!(buf = malloc(cap))) {
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
	}
	if (n < 0) {
		int e = errno;

		free(buf);
		close(fd);
		errno = e;
		return NULL;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

void ctl_job_path(const struct ctl *c, const char *sid, const char *jid, const char *name,
		  char *out, size_t len)
{
	snprintf(out, len, "%s/sessions/%s/jobs/%s/%s", c->mount, sid, jid, name);
}

int ctl_job_record(const struct ctl *c, const char *sid, const char *jid, struct job *out)
{
	char path[4400], err[256], *text;
	int rc;

	ctl_job_path(c, sid, jid, "job.json", path, sizeof(path));
	if (!(text = ctl_read(path)))
		return -errno;
	rc = job_from_json(text, out, err, sizeof(err));
	free(text);
	return rc;
}
