/* ls.c - `mixctl ls`: the jobs of one session or of all, as a table like
 * squeue's or as JSON (the records themselves). See mixctl(1). */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct row {
	struct job rec;
	char *json;	/* the record as the tree showed it */
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static int add_row(const struct ctl *c, struct rows *r, const char *sid, const char *jid,
		   int want_state)
{
	char path[4400], err[256];
	struct row row = { 0 };

	ctl_job_path(c, sid, jid, "job.json", path, sizeof(path));
	if (!(row.json = ctl_read(path)))
		return errno == ENOENT ? 0 : -errno; /* gone meanwhile */
	if (job_from_json(row.json, &row.rec, err, sizeof(err))) {
		free(row.json);
		return 0; /* a record it cannot read: not a job to list */
	}
	if ((want_state >= 0 && (int)row.rec.state != want_state) ||
	    util_grow((void **)&r->v, &r->cap, r->n, sizeof(*r->v))) {
		job_clear(&row.rec);
		free(row.json);
		return 0;
	}
	r->v[r->n++] = row;
	return 0;
}

static int add_session(const struct ctl *c, struct rows *r, const char *sid, int want_state)
{
	char path[4200];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/sessions/%s/jobs", c->mount, sid);
	if (!(d = opendir(path)))
		return -errno;
	while (!rc && (e = readdir(d)))
		if (job_id_valid(e->d_name))
			rc = add_row(c, r, sid, e->d_name, want_state);
	closedir(d);
	return rc;
}

static int by_created(const void *a, const void *b)
{
	const struct job *x = &((const struct row *)a)->rec, *y = &((const struct row *)b)->rec;

	return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

/* "42s", "7m", "3h", "2d" */
static void span(util_ms ms, char *out, size_t len)
{
	long s = (long)(ms / 1000);

	if (s < 0)
		snprintf(out, len, "-");
	else if (s < 120)
		snprintf(out, len, "%lds", s);
	else if (s < 7200)
		snprintf(out, len, "%ldm", s / 60);
	else if (s < 172800)
		snprintf(out, len, "%ldh", s / 3600);
	else
		snprintf(out, len, "%ldd", s / 86400);
}

static void owner_name(long uid, char *out, size_t len)
{
	struct passwd *pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;

	if (pw)
		snprintf(out, len, "%s", pw->pw_name);
	else if (uid >= 0)
		snprintf(out, len, "%ld", uid);
	else
		snprintf(out, len, "-");
}

static void print_table(const struct rows *r)
{
	util_ms now = util_now_ms();

	printf("%-8s  %-16s  %-17s  %4s  %-10s  %5s  %7s\n", "JOB", "SESSION", "STATE", "PROG",
	       "OWNER", "AGE", "EXPIRES");
	for (size_t i = 0; i < r->n; i++) {
		const struct job *j = &r->v[i].rec;
		char age[16], exp[16], owner[64];

		span(now - j->created_at, age, sizeof(age));
		if (j->expires_at)
			span(j->expires_at - now, exp, sizeof(exp));
		else
			snprintf(exp, sizeof(exp), "-");
		owner_name(j->owner_uid, owner, sizeof(owner));
		printf("%-8.8s  %-16s  %-17s  %3d%%  %-10s  %5s  %7s\n", j->id, j->session,
		       job_state_name(j->state), j->progress, owner, age, exp);
	}
}

static void print_json(const struct rows *r)
{
	fputs("[", stdout);
	for (size_t i = 0; i < r->n; i++) {
		size_t n = strlen(r->v[i].json);

		while (n && r->v[i].json[n - 1] == '\n')
			n--;
		printf("%s%.*s", i ? ",\n" : "\n", (int)n, r->v[i].json);
	}
	fputs(r->n ? "\n]\n" : "]\n", stdout);
}

/* Options: [SESSION] [-o json|table] [--state=S] in any order. */
static int ls_args(int argc, char **argv, const char **sid, bool *json, int *state)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-o") == 0 && i + 1 < argc)
			a = argv[++i];
		else if (strncmp(a, "-o", 2) == 0 && a[2])
			a += 2;
		else if (strncmp(a, "--state=", 8) == 0) {
			enum job_state st;

			if (job_state_parse(a + 8, &st)) {
				ctl_error("%s: no such state", a + 8);
				return CTL_USAGE;
			}
			*state = (int)st;
			continue;
		} else if (a[0] != '-' && !*sid) {
			*sid = a;
			continue;
		} else {
			ctl_error("usage: mixctl ls [SESSION] [-o json] [--state=STATE]");
			return CTL_USAGE;
		}
		if (strcmp(a, "json") != 0 && strcmp(a, "table") != 0) {
			ctl_error("-o %s: the formats are table and json", a);
			return CTL_USAGE;
		}
		*json = strcmp(a, "json") == 0;
	}
	return CTL_OK;
}

int ctl_ls(const struct ctl *c, int argc, char **argv)
{
	const char *sid = NULL;
	struct rows r = { 0 };
	bool json = false;
	int state = -1, rc = ls_args(argc, argv, &sid, &json, &state);
	char path[4200];
	struct dirent *e;
	DIR *d;

	if (rc)
		return rc;
	if (sid && (rc = add_session(c, &r, sid, state))) {
		ctl_error("%s: %s", sid, rc == -ENOENT ? "no such session" : strerror(-rc));
		return CTL_USAGE;
	}
	if (!sid) {
		snprintf(path, sizeof(path), "%s/sessions", c->mount);
		if (!(d = opendir(path))) {
			ctl_error("%s: %s", path, strerror(errno));
			return CTL_FAILED;
		}
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				add_session(c, &r, e->d_name, state);
		closedir(d);
	}
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), by_created);
	if (json)
		print_json(&r);
	else
		print_table(&r);
	for (size_t i = 0; i < r.n; i++) {
		job_clear(&r.v[i].rec);
		free(r.v[i].json);
	}
	free(r.v);
	return CTL_OK;
}
