/*
 * migrate.c - mixfs migrate: copy every record of a file store into the
 * database, once. The store is opened as a single-host daemon would (so
 * one that is running refuses it) and read as a mount reads it; each
 * record becomes a row unless one with its id is there already, so a
 * second run moves nothing twice. Records that do not parse are reported
 * and left (moved aside as at any mount); the files stay where they are,
 * and a job's files go when it expires, as on one host. Once every good
 * record is in, MEDIA_DIR is marked (STORE_MOVED_MARK) so that a
 * single-host mount, which would run the jobs again, refuses.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mixfs/core.h"
#include "mixfs/log.h"
#include "mixfs/pgstore.h"

struct migrate_ctx {
	struct pgs *pg;
	FILE *out;
	size_t moved, present, failed, corrupt;
};

static void migrate_record(void *ctx, struct job *j)
{
	struct migrate_ctx *m = ctx;
	bool inserted = false;
	int rc = pgs_import(m->pg, j, &inserted);

	if (rc) {
		fprintf(m->out, "not moved: %s/jobs/%s.json: %s\n", j->session, j->id,
			rc == -EIO ? "the database is unreachable" : "the database refused it");
		m->failed++;
	} else if (inserted) {
		m->moved++;
	} else {
		m->present++;
	}
	job_clear(j);
}

static void migrate_corrupt(void *ctx, const char *sid, const char *jid, const char *rel,
			    util_ms mtime, const char *why)
{
	struct migrate_ctx *m = ctx;

	(void)sid;
	(void)jid;
	(void)mtime;
	fprintf(m->out, "left: %s: %s\n", rel, why);
	m->corrupt++;
}

int core_migrate(const char *media, const char *conninfo, FILE *out)
{
	struct migrate_ctx m = { .out = out };
	struct store_visitor v = { migrate_record, migrate_corrupt, &m };
	char outputs[STORE_PATH_MAX + 16], err[512];
	struct store st;
	int rc;

	snprintf(outputs, sizeof(outputs), "%s/.mix_outputs", media);
	if ((rc = store_open_migrate(&st, media, outputs, err, sizeof(err)))) {
		fprintf(out, "mixfs migrate: %s\n", err);
		return rc;
	}
	if ((rc = pgs_open(&m.pg, conninfo, "mixfs-migrate", 30, err, sizeof(err)))) {
		fprintf(out, "mixfs migrate: %s\n", err);
		store_close(&st);
		return rc;
	}
	if ((rc = store_load(&st, &v)))
		fprintf(out, "mixfs migrate: cannot read %s: %s\n", media, strerror(-rc));
	else if (!m.failed && (rc = store_mark_moved(&st, pgs_where(m.pg))))
		fprintf(out, "mixfs migrate: cannot mark %s as moved: %s\n", media, strerror(-rc));
	fprintf(out, "moved %zu record%s into %s; %zu were there already; %zu not moved; "
		"%zu corrupt left in place\n", m.moved, m.moved == 1 ? "" : "s", pgs_where(m.pg),
		m.present, m.failed, m.corrupt);
	pgs_close(m.pg);
	store_close(&st);
	return rc ? rc : m.failed || m.corrupt ? 1 : 0;
}
