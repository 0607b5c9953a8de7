/*
 * rows.c - the statements on job rows: insert, fenced update, claim,
 * requeue, lease renewal, cancel requests, deletion and change reads.
 * See pgstore.h for the protocol.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixfs/log.h"
#include "pg_impl.h"

#define ACTIVE_SQL "state NOT IN ('queued', 'complete', 'error')"
/* Rows re-read by each change read: its window reaches back this far, so
 * a statement that committed late (it took its changed_at earlier) is
 * still seen. */
#define OVERLAP_SQL "interval '5 seconds'"
#define DELETE_BATCH "500"

/* The text parameters a job's row is written from. */
struct row_params {
	char created[24], expires[24], attempts[16], lease[32];
	char *record;
	const char *state, *host;
};

static int row_params(const struct pgs *p, const struct job *j, struct row_params *rp)
{
	snprintf(rp->created, sizeof(rp->created), "%" PRId64, j->created_at);
	snprintf(rp->expires, sizeof(rp->expires), "%" PRId64, j->expires_at);
	snprintf(rp->attempts, sizeof(rp->attempts), "%d", j->attempts);
	snprintf(rp->lease, sizeof(rp->lease), "%.3f", p->lease_s);
	rp->state = job_state_name(j->state);
	rp->host = j->host;
	rp->record = job_to_json(j);
	return rp->record ? 0 : -ENOMEM;
}

/* Parse a row (job_id, rev, cancel_requested, record) of @r. */
static int row_read(const PGresult *r, int i, struct pgs_row *out)
{
	char err[160];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = job_from_json(PQgetvalue(r, i, 3), &out->job, err, sizeof(err)))) {
		log_error("job %s: its row's record does not parse (%s); skipped",
			  PQgetvalue(r, i, 0), err);
		return rc;
	}
	if (strcmp(out->job.id, PQgetvalue(r, i, 0)) != 0) {
		log_error("job %s: its row holds job %s's record; skipped", PQgetvalue(r, i, 0),
			  out->job.id);
		job_clear(&out->job);
		return -EINVAL;
	}
	out->rev = strtoll(PQgetvalue(r, i, 1), NULL, 10);
	out->cancel_requested = strcmp(PQgetvalue(r, i, 2), "t") == 0;
	return 0;
}

#define ROW_COLS "job_id, rev, cancel_requested, record"

/* Insert @j's row unless one with its id is there (-EEXIST); *@rev its
 * first rev. Caller holds mu. */
static int insert_row(struct pgs *p, const struct job *j, int64_t *rev)
{
	struct row_params rp;
	PGresult *r;
	int rc;

	if ((rc = row_params(p, j, &rp)))
		return rc;
	const char *v[] = { j->id, j->session, rp.state, rp.created, rp.expires, rp.attempts,
			    rp.host, rp.record };
	r = pgs_exec(p,
		     "WITH i AS (INSERT INTO mixfs_jobs (job_id, session_id, state, created_at,"
		     " expires_at, attempts, host, record) VALUES ($1::uuid, $2, $3,"
		     " to_timestamp($4::float8 / 1000), to_timestamp(NULLIF($5::int8, 0) / 1000.0),"
		     " $6::int, NULLIF($7, ''), $8) ON CONFLICT (job_id) DO NOTHING RETURNING rev)"
		     " SELECT rev, pg_notify('mixfs', $1::text) FROM i",
		     8, v, PGRES_TUPLES_OK, &rc);
	free(rp.record);
	if (r && PQntuples(r) == 0)
		rc = -EEXIST;
	else if (r)
		*rev = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

int pgs_import(struct pgs *p, const struct job *j, bool *inserted)
{
	int64_t rev;
	int rc;

	pthread_mutex_lock(&p->mu);
	rc = insert_row(p, j, &rev);
	pthread_mutex_unlock(&p->mu);
	*inserted = rc == 0;
	return rc == -EEXIST ? 0 : rc;
}

static int session_count(struct pgs *p, const char *sid, long *n)
{
	char key[32];
	const char *v[] = { key, sid };
	PGresult *r;
	int rc;

	snprintf(key, sizeof(key), "%d", PGS_LOCK_SESSION);
	r = pgs_exec(p, "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", 2, v,
		     PGRES_TUPLES_OK, &rc);
	if (!r)
		return rc;
	PQclear(r);
	r = pgs_exec(p, "SELECT count(*) FROM mixfs_jobs WHERE session_id = $1", 1, v + 1,
		     PGRES_TUPLES_OK, &rc);
	if (!r)
		return rc;
	*n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int pgs_insert(struct pgs *p, const struct job *j, unsigned cap, int64_t *rev)
{
	long n = 0;
	int rc;

	pthread_mutex_lock(&p->mu);
	if (!cap) {
		rc = insert_row(p, j, rev);
		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	if ((rc = pgs_cmd(p, "BEGIN", 0, NULL)) == 0) {
		rc = session_count(p, j->session, &n);
		if (!rc && n >= (long)cap)
			rc = -EDQUOT;
		if (!rc)
			rc = insert_row(p, j, rev);
		if (!rc)
			rc = pgs_cmd(p, "COMMIT", 0, NULL);
		else
			pgs_rollback(p);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Write @j over rev @rev; caller holds mu. */
static int update_row(struct pgs *p, const struct job *j, int64_t rev, bool leased,
		      int64_t *new_rev, bool *cancel)
{
	struct row_params rp;
	char revs[24];
	PGresult *r;
	int rc;

	if ((rc = row_params(p, j, &rp)))
		return rc;
	snprintf(revs, sizeof(revs), "%" PRId64, rev);
	const char *v[] = { j->id, revs, rp.state, rp.expires, rp.attempts, rp.host, rp.record,
			    rp.lease, leased ? "t" : "f", p->host };
	r = pgs_exec(p,
		     "WITH u AS (UPDATE mixfs_jobs SET state = $3,"
		     " expires_at = to_timestamp(NULLIF($4::int8, 0) / 1000.0), attempts = $5::int,"
		     " host = NULLIF($6, ''), record = $7, rev = rev + 1, changed_at = clock_timestamp(),"
		     " lease_until = CASE WHEN $3 IN ('queued', 'complete', 'error') THEN NULL"
		     "  ELSE now() + make_interval(secs => $8::float8) END"
		     " WHERE job_id = $1::uuid AND rev = $2::int8"
		     " AND (NOT $9::bool OR (host = $10 AND lease_until > now()))"
		     " RETURNING rev, cancel_requested)"
		     " SELECT rev, cancel_requested, pg_notify('mixfs', $1::text) FROM u",
		     10, v, PGRES_TUPLES_OK, &rc);
	free(rp.record);
	if (!r)
		return rc;
	if (PQntuples(r) == 0) {
		rc = -ESTALE;
	} else {
		if (new_rev)
			*new_rev = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		if (cancel)
			*cancel = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	}
	PQclear(r);
	return rc;
}

int pgs_update(struct pgs *p, const struct job *j, int64_t rev, bool leased, int64_t *new_rev,
	       bool *cancel)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	rc = update_row(p, j, rev, leased, new_rev, cancel);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Inside a transaction: @edit each locked row of @r and write it back.
 * Rows that do not parse are left (logged). *@n counts those written. */
static int edit_rows(struct pgs *p, PGresult *r, pgs_edit_fn edit, void *ctx, size_t *n,
		     struct pgs_row *last)
{
	int rc = 0;

	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct pgs_row row;

		if (row_read(r, i, &row))
			continue;
		if ((rc = edit(ctx, &row.job)) == 0 &&
		    (rc = update_row(p, &row.job, row.rev, false, &row.rev, NULL)) == 0)
			(*n)++;
		if (!rc && last) {
			*last = row;
			continue;
		}
		job_clear(&row.job);
	}
	return rc;
}

/* SELECT @sql (locking rows), edit and write them back, in one
 * transaction. */
static int edit_locked(struct pgs *p, const char *sql, int nv, const char *const *v,
		       pgs_edit_fn edit, void *ctx, size_t *n, struct pgs_row *last)
{
	PGresult *r;
	int rc;

	*n = 0;
	pthread_mutex_lock(&p->mu);
	if ((rc = pgs_cmd(p, "BEGIN", 0, NULL)) == 0) {
		r = pgs_exec(p, sql, nv, v, PGRES_TUPLES_OK, &rc);
		if (r)
			rc = edit_rows(p, r, edit, ctx, n, last);
		PQclear(r);
		if (!rc)
			rc = pgs_cmd(p, "COMMIT", 0, NULL);
		else
			pgs_rollback(p);
		if (rc && last && *n) {
			job_clear(&last->job);
			*n = 0;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int pgs_claim(struct pgs *p, pgs_edit_fn edit, void *ctx, struct pgs_row *out)
{
	size_t n;
	int rc = edit_locked(p,
			     "SELECT " ROW_COLS " FROM mixfs_jobs WHERE state = 'queued'"
			     " ORDER BY created_at, job_id LIMIT 1 FOR UPDATE SKIP LOCKED",
			     0, NULL, edit, ctx, &n, out);

	return rc ? rc : n ? 0 : -ENOENT;
}

/* Whether @sql (a SELECT EXISTS) says there is work: one statement, so
 * an idle host's periodic checks cost no transaction. */
static bool any(struct pgs *p, const char *sql)
{
	PGresult *r;
	bool yes;
	int rc;

	pthread_mutex_lock(&p->mu);
	r = pgs_exec(p, sql, 0, NULL, PGRES_TUPLES_OK, &rc);
	pthread_mutex_unlock(&p->mu);
	yes = !r || strcmp(PQgetvalue(r, 0, 0), "t") == 0; /* an error: let the real one say */
	PQclear(r);
	return yes;
}

int pgs_requeue(struct pgs *p, bool own, pgs_edit_fn edit, void *ctx, size_t *n)
{
	const char *v[] = { p->host };

	*n = 0;
	if (!own && !any(p, "SELECT EXISTS (SELECT 1 FROM mixfs_jobs WHERE " ACTIVE_SQL
			    " AND (lease_until IS NULL OR lease_until < now()))"))
		return 0;

	return edit_locked(p,
			   own ? "SELECT " ROW_COLS " FROM mixfs_jobs WHERE " ACTIVE_SQL
				 " AND (host = $1 OR lease_until IS NULL OR lease_until < now())"
				 " FOR UPDATE SKIP LOCKED"
			       : "SELECT " ROW_COLS " FROM mixfs_jobs WHERE " ACTIVE_SQL
				 " AND (lease_until IS NULL OR lease_until < now()) AND $1 = $1"
				 " LIMIT 100 FOR UPDATE SKIP LOCKED",
			   1, v, edit, ctx, n, NULL);
}

int pgs_renew(struct pgs *p, const char (*jids)[JOB_ID_LEN + 1], size_t n,
	      void (*held)(void *ctx, const char *jid, bool cancel), void *ctx)
{
	char lease[32], *ids = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&ids, &len);
	PGresult *r = NULL;
	int rc;

	if (!f)
		return -ENOMEM;
	fputc('{', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", jids[i]);
	fputc('}', f);
	if (fclose(f)) {
		free(ids);
		return -ENOMEM;
	}
	snprintf(lease, sizeof(lease), "%.3f", p->lease_s);
	const char *v[] = { p->host, lease, ids };
	pthread_mutex_lock(&p->mu);
	r = pgs_exec(p,
		     "UPDATE mixfs_jobs SET lease_until = now() + make_interval(secs => $2::float8)"
		     " WHERE job_id = ANY($3::uuid[]) AND host = $1 AND " ACTIVE_SQL
		     " AND lease_until > now() RETURNING job_id, cancel_requested",
		     3, v, PGRES_TUPLES_OK, &rc);
	pthread_mutex_unlock(&p->mu);
	free(ids);
	for (int i = 0; r && i < PQntuples(r); i++)
		held(ctx, PQgetvalue(r, i, 0), strcmp(PQgetvalue(r, i, 1), "t") == 0);
	PQclear(r);
	return rc;
}

int pgs_request_cancel(struct pgs *p, const char *jid)
{
	const char *v[] = { jid };
	PGresult *r;
	int rc;

	pthread_mutex_lock(&p->mu);
	r = pgs_exec(p,
		     "WITH u AS (UPDATE mixfs_jobs SET cancel_requested = true,"
		     " changed_at = clock_timestamp() WHERE job_id = $1::uuid"
		     " AND state NOT IN ('complete', 'error') RETURNING job_id)"
		     " SELECT pg_notify('mixfs', $1::text) FROM u",
		     1, v, PGRES_TUPLES_OK, &rc);
	pthread_mutex_unlock(&p->mu);
	if (r && PQntuples(r) == 0)
		rc = -ENOENT;
	PQclear(r);
	return rc;
}

/* ---- deletion ---- */

/* Postgres array literals of the ids and sessions deleted. */
struct gone_list {
	char *ids, *sids;
	size_t n_ids, n_sids;
	FILE *fi, *fs;
	size_t count;
};

static int gone_open(struct gone_list *g)
{
	memset(g, 0, sizeof(*g));
	g->fi = open_memstream(&g->ids, &g->n_ids);
	g->fs = open_memstream(&g->sids, &g->n_sids);
	if (!g->fi || !g->fs)
		return -ENOMEM;
	fputc('{', g->fi);
	fputc('{', g->fs);
	return 0;
}

static void gone_add(struct gone_list *g, const char *jid, const char *sid)
{
	/* ids and session names are [A-Za-z0-9._-]: nothing to quote */
	fprintf(g->fi, "%s%s", g->count ? "," : "", jid);
	fprintf(g->fs, "%s%s", g->count ? "," : "", sid);
	g->count++;
}

static int gone_close(struct gone_list *g)
{
	int rc = 0;

	if (g->fi) {
		fputc('}', g->fi);
		rc |= fclose(g->fi);
	}
	if (g->fs) {
		fputc('}', g->fs);
		rc |= fclose(g->fs);
	}
	g->fi = g->fs = NULL;
	return rc ? -ENOMEM : 0;
}

static void gone_free(struct gone_list *g)
{
	gone_close(g);
	free(g->ids);
	free(g->sids);
}

/* Drop each locked row's files; list those whose files went. */
static void drop_rows(PGresult *r, const struct pgs_delete *d, struct gone_list *g)
{
	for (int i = 0; i < PQntuples(r); i++) {
		struct pgs_row row;
		const char *jid = PQgetvalue(r, i, 0), *sid = PQgetvalue(r, i, 4);

		if (row_read(r, i, &row)) {
			/* unparseable: its files are found by its columns */
			memset(&row, 0, sizeof(row));
			snprintf(row.job.id, sizeof(row.job.id), "%s", jid);
			snprintf(row.job.session, sizeof(row.job.session), "%s", sid);
			row.job.state = JOB_ERROR;
		}
		if (d->drop(d->ctx, &row.job) == 0)
			gone_add(g, jid, sid);
		job_clear(&row.job);
	}
}

static int delete_listed(struct pgs *p, struct gone_list *g)
{
	int rc = gone_close(g); /* the lists exist once their streams close */
	const char *v[] = { g->ids, g->sids };

	if (rc)
		return rc;
	if ((rc = pgs_cmd(p, "DELETE FROM mixfs_jobs WHERE job_id = ANY($1::uuid[])", 1, v)))
		return rc;
	if ((rc = pgs_cmd(p, "INSERT INTO mixfs_gone (job_id, session_id)"
			     " SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING",
			  2, v)))
		return rc;
	if ((rc = pgs_cmd(p, "DELETE FROM mixfs_gone WHERE gone_at < now() - interval '1 hour'",
			  0, NULL)))
		return rc;
	return pgs_cmd(p, "NOTIFY mixfs", 0, NULL);
}

/* Tell @d of each deleted row, from the (closed) lists. */
static void tell_gone(const struct gone_list *g, const struct pgs_delete *d)
{
	const char *i = g->ids + 1, *s = g->sids + 1;

	for (size_t k = 0; k < g->count; k++) {
		char jid[JOB_ID_LEN + 1], sid[JOB_SESSION_MAX + 1];
		size_t li = strcspn(i, ",}"), ls = strcspn(s, ",}");

		snprintf(jid, sizeof(jid), "%.*s", (int)li, i);
		snprintf(sid, sizeof(sid), "%.*s", (int)ls, s);
		d->gone(d->ctx, sid, jid);
		i += li + 1;
		s += ls + 1;
	}
}

int pgs_delete(struct pgs *p, const char *jid, const struct pgs_delete *d, size_t *n)
{
	const char *v[] = { jid };
	struct gone_list g;
	PGresult *r = NULL;
	int rc;

	*n = 0;
	if (!jid && !any(p, "SELECT EXISTS (SELECT 1 FROM mixfs_jobs WHERE expires_at <= now())"))
		return 0;
	if ((rc = gone_open(&g))) {
		gone_free(&g);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	if ((rc = pgs_cmd(p, "BEGIN", 0, NULL)) == 0) {
		r = jid ? pgs_exec(p, "SELECT " ROW_COLS ", session_id FROM mixfs_jobs"
				      " WHERE job_id = $1::uuid AND state IN ('complete', 'error')"
				      " FOR UPDATE", 1, v, PGRES_TUPLES_OK, &rc)
			: pgs_exec(p, "SELECT " ROW_COLS ", session_id FROM mixfs_jobs"
				      " WHERE expires_at <= now() ORDER BY expires_at LIMIT " DELETE_BATCH
				      " FOR UPDATE SKIP LOCKED", 0, NULL, PGRES_TUPLES_OK, &rc);
		if (r && jid && PQntuples(r) == 0)
			rc = -ENOENT;
		if (r && !rc)
			drop_rows(r, d, &g);
		PQclear(r);
		if (!rc && g.count)
			rc = delete_listed(p, &g);
		if (!rc)
			rc = pgs_cmd(p, "COMMIT", 0, NULL);
		else
			pgs_rollback(p);
	}
	pthread_mutex_unlock(&p->mu);
	if (!rc && g.count) {
		tell_gone(&g, d);
		*n = g.count;
	}
	gone_free(&g);
	return rc;
}

/* ---- reads ---- */

int pgs_get(struct pgs *p, const char *jid, struct pgs_row *out)
{
	const char *v[] = { jid };
	PGresult *r;
	int rc;

	pthread_mutex_lock(&p->mu);
	r = pgs_exec(p, "SELECT " ROW_COLS " FROM mixfs_jobs WHERE job_id = $1::uuid", 1, v,
		     PGRES_TUPLES_OK, &rc);
	pthread_mutex_unlock(&p->mu);
	if (r && PQntuples(r) == 0)
		rc = -ENOENT;
	else if (r)
		rc = row_read(r, 0, out);
	PQclear(r);
	return rc;
}

/* The change read's statement, under mu: the rows and deletions since
 * p->since (all rows when @full), and where the next read starts (the
 * NEXT column of every row; a row with a NULL id when nothing changed).
 * Columns: job_id, rev, cancel_requested, record (as ROW_COLS), kind ('j'
 * a row, 'g' a deletion), next, session_id. */
static PGresult *read_changes(struct pgs *p, bool full, int *rc)
{
	const char *v[] = { p->since };

	if (full)
		return pgs_exec(p,
				"WITH t AS (SELECT (clock_timestamp() - " OVERLAP_SQL ")::text AS next)"
				" SELECT j.job_id, j.rev, j.cancel_requested, j.record, 'j', t.next,"
				" j.session_id FROM t LEFT JOIN mixfs_jobs j ON true"
				" ORDER BY j.created_at, j.job_id",
				0, NULL, PGRES_TUPLES_OK, rc);
	return pgs_exec(p,
			"WITH t AS (SELECT (clock_timestamp() - " OVERLAP_SQL ")::text AS next)"
			" SELECT j.job_id, j.rev, j.cancel_requested, j.record, 'j', t.next,"
			" j.session_id FROM t LEFT JOIN mixfs_jobs j ON j.changed_at > $1::timestamptz"
			" UNION ALL"
			" SELECT g.job_id, NULL, NULL, NULL, 'g', t.next, g.session_id"
			" FROM t JOIN mixfs_gone g ON g.gone_at > $1::timestamptz",
			1, v, PGRES_TUPLES_OK, rc);
}

static void change_row(const PGresult *r, int i, const struct pgs_sink *s)
{
	const char *jid = PQgetvalue(r, i, 0);
	struct pgs_row row;

	if (PQgetisnull(r, i, 0))
		return; /* nothing changed */
	if (PQgetvalue(r, i, 4)[0] == 'g') {
		s->gone(s->ctx, PQgetvalue(r, i, 6), jid);
		return;
	}
	if (s->want && !s->want(s->ctx, jid, strtoll(PQgetvalue(r, i, 1), NULL, 10)))
		return;
	if (row_read(r, i, &row) == 0)
		s->row(s->ctx, &row);
}

int pgs_changes(struct pgs *p, bool full, const struct pgs_sink *s)
{
	PGresult *r;
	int rc;

	full = full || !p->since[0];
	pthread_mutex_lock(&p->mu);
	r = read_changes(p, full, &rc);
	pthread_mutex_unlock(&p->mu);
	if (!r)
		return rc;
	for (int i = 0; i < PQntuples(r); i++)
		change_row(r, i, s);
	if (PQntuples(r) > 0)
		snprintf(p->since, sizeof(p->since), "%s", PQgetvalue(r, 0, 5));
	PQclear(r);
	return 0;
}
