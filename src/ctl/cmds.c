/* cmds.c - mixctl's one-shot commands: submit, show, log, cancel, rm,
 * stats. See ctl.h and mixctl(1). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "mixfs/request.h"

/* The request's bytes: a file, stdin ("-"), or "{}" (malloc'd). */
static char *request_text(const char *from, size_t *len)
{
	size_t cap = 4096;
	char *buf;
	ssize_t n;
	int fd;

	if (!from) {
		*len = 3;
		return strdup("{}\n");
	}
	fd = strcmp(from, "-") == 0 ? 0 : open(from, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !(buf = malloc(cap)))
		return NULL;
	*len = 0;
	while ((n = read(fd, buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len > REQUEST_MAX_BYTES) {
			errno = EFBIG;
			n = -1;
			break;
		}
		if (*len == cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				n = -1;
				break;
			}
			buf = nb;
		}
	}
	if (fd != 0)
		close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* A name in requests/ for this drop: the file's own, else a fresh one. */
static void drop_name(const char *from, char *out, size_t len)
{
	char copy[4096];

	if (from && strcmp(from, "-") != 0) {
		snprintf(copy, sizeof(copy), "%s", from);
		snprintf(out, len, "%s", basename(copy));
		return;
	}
	snprintf(out, len, "mixctl-%ld-%ld.json", (long)time(NULL), (long)getpid());
}

/* Print a small file of the tree as it is. */
static int print_file(const char *path, const char *what)
{
	char *text = ctl_read(path);

	if (!text) {
		ctl_error("%s: %s%s", path, what, strerror(errno));
		return CTL_FAILED;
	}
	fputs(text, stdout);
	free(text);
	return CTL_OK;
}

/* A rejected request: its job holds the error; print it. */
static int rejected(const struct ctl *c, const char *sid, const char *receipt)
{
	char jid[JOB_ID_LEN + 2] = "", path[4400], *text = ctl_read(receipt), *err;

	if (text)
		snprintf(jid, sizeof(jid), "%.*s", JOB_ID_LEN, text);
	free(text);
	ctl_job_path(c, sid, jid, "error", path, sizeof(path));
	err = jid[0] ? ctl_read(path) : NULL;
	if (err)
		err[strcspn(err, "\n")] = '\0';
	ctl_error("request rejected (job %s): %s", jid[0] ? jid : "?", err ? err : "invalid");
	free(err);
	return CTL_FAILED;
}

int ctl_submit(const struct ctl *c, int argc, char **argv)
{
	char name[256], path[4600], *text;
	size_t len;
	int fd, rc;

	if (argc < 1 || argc > 2) {
		ctl_error("usage: mixctl submit SESSION [REQUEST|-]");
		return CTL_USAGE;
	}
	snprintf(path, sizeof(path), "%s/sessions/%s/requests", c->mount, argv[0]);
	if (access(path, F_OK) < 0) {
		ctl_error("%s: no such session", argv[0]);
		return CTL_USAGE;
	}
	if (!(text = request_text(argc == 2 ? argv[1] : NULL, &len))) {
		ctl_error("%s: %s", argv[1], errno == EFBIG ? "over 1 MiB: not a request" : strerror(errno));
		return CTL_USAGE;
	}
	drop_name(argc == 2 ? argv[1] : NULL, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/sessions/%s/requests/%s", c->mount, argv[0], name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	rc = fd < 0 ? -errno : util_write_all(fd, text, len);
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = -errno;
	free(text);
	if (rc == -EINVAL)
		return rejected(c, argv[0], path);
	if (rc) {
		ctl_error("%s: %s", path, rc == -EDQUOT ? "the session holds its limit of jobs"
						     : strerror(-rc));
		return CTL_FAILED;
	}
	return print_file(path, "no receipt: ");
}

/* Run @fn on each job named in @argv; CTL_FAILED if any failed. */
static int each_job(const struct ctl *c, int argc, char **argv, const char *usage,
		    int (*fn)(const struct ctl *c, const char *sid, const char *jid))
{
	char jid[JOB_ID_LEN + 1], sid[JOB_SESSION_MAX + 1];
	int worst = CTL_OK;

	if (argc < 1) {
		ctl_error("usage: %s", usage);
		return CTL_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		int rc = ctl_resolve(c, argv[i], jid, sid);

		if (rc == CTL_OK)
			rc = fn(c, sid, jid);
		if (rc > worst)
			worst = rc;
	}
	return worst;
}

static int cat_file(const struct ctl *c, const char *sid, const char *jid, const char *name)
{
	char path[4400];

	ctl_job_path(c, sid, jid, name, path, sizeof(path));
	return print_file(path, "");
}

static int one_log(const struct ctl *c, const char *sid, const char *jid)
{
	return cat_file(c, sid, jid, "log");
}

int ctl_log(const struct ctl *c, int argc, char **argv)
{
	return each_job(c, argc, argv, "mixctl log JOB...", one_log);
}

static void show_time(const char *key, util_ms t)
{
	char iso[UTIL_ISO_MAX];

	if (!t)
		return;
	util_iso_format(t, iso);
	printf("%-12s %s\n", key, iso);
}

static int one_show(const struct ctl *c, const char *sid, const char *jid)
{
	struct job j;
	int rc = ctl_job_record(c, sid, jid, &j);

	if (rc) {
		ctl_error("job %s: cannot read its record: %s", jid, strerror(-rc));
		return CTL_FAILED;
	}
	printf("%-12s %s\n%-12s %s\n%-12s %s\n%-12s %d%%\n", "job", j.id, "session", j.session,
	       "state", job_state_name(j.state), "progress", j.progress);
	if (j.request_name)
		printf("%-12s requests/%s\n", "request", j.request_name);
	if (j.owner_uid >= 0)
		printf("%-12s %ld\n", "owner", j.owner_uid);
	printf("%-12s %d\n", "attempts", j.attempts);
	show_time("created", j.created_at);
	show_time("started", j.started_at);
	show_time("updated", j.updated_at);
	show_time("finished", j.finished_at);
	show_time("expires", j.expires_at);
	if (j.error)
		printf("%-12s %s\n", "error", j.error);
	if (j.output)
		printf("%-12s %s\n", "output", j.output);
	if (j.result.present)
		printf("%-12s %.2f s, %d Hz, %.2f LUFS, %.2f dBTP, gain %.2f dB\n", "result",
		       j.result.duration_s, j.result.sample_rate, j.result.integrated_lufs,
		       j.result.true_peak_dbtp, j.result.gain_db);
	job_clear(&j);
	return CTL_OK;
}

int ctl_show(const struct ctl *c, int argc, char **argv)
{
	return each_job(c, argc, argv, "mixctl show JOB...", one_show);
}

static int one_cancel(const struct ctl *c, const char *sid, const char *jid)
{
	char path[4400];
	int fd, rc;

	ctl_job_path(c, sid, jid, "ctl", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	rc = fd < 0 ? -errno : util_write_all(fd, "cancel\n", 7);
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = -errno;
	if (rc) {
		ctl_error("job %s: cannot cancel: %s", jid, strerror(-rc));
		return CTL_FAILED;
	}
	return CTL_OK;
}

int ctl_cancel(const struct ctl *c, int argc, char **argv)
{
	return each_job(c, argc, argv, "mixctl cancel JOB...", one_cancel);
}

static int one_rm(const struct ctl *c, const char *sid, const char *jid)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/sessions/%s/jobs/%s", c->mount, sid, jid);
	if (rmdir(path) == 0)
		return CTL_OK;
	ctl_error("job %s: cannot delete: %s", jid, errno == EBUSY
		  ? "it is still active; cancel it first" : strerror(errno));
	return CTL_FAILED;
}

int ctl_rm(const struct ctl *c, int argc, char **argv)
{
	return each_job(c, argc, argv, "mixctl rm JOB...", one_rm);
}

int ctl_stats(const struct ctl *c, int argc, char **argv)
{
	char path[4200];

	(void)argv;
	if (argc) {
		ctl_error("usage: mixctl stats");
		return CTL_USAGE;
	}
	snprintf(path, sizeof(path), "%s/stats", c->mount);
	return print_file(path, "");
}
