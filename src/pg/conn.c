/*
 * conn.c - the connections to PostgreSQL: open and reconnect, the schema
 * (created under an advisory lock, so hosts starting at once take turns),
 * the host lock, statements with their error handling, and the listener.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mixfs/log.h"
#include "pg_impl.h"

#define RECONNECT_MS 1000

/* Statements, one per string, that make schema version 1. */
static const char *const schema_v1[] = {
	"CREATE TABLE mixfs_jobs ("
	" job_id uuid PRIMARY KEY,"
	" session_id text NOT NULL,"
	" state text NOT NULL,"
	" created_at timestamptz NOT NULL,"
	" expires_at timestamptz,"
	" attempts integer NOT NULL DEFAULT 0,"
	" host text,"
	" lease_until timestamptz,"
	" cancel_requested boolean NOT NULL DEFAULT false,"
	" rev bigint NOT NULL DEFAULT 1,"
	" changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
	" record text NOT NULL)",
	"CREATE INDEX mixfs_jobs_claim ON mixfs_jobs (state, created_at, job_id)",
	"CREATE INDEX mixfs_jobs_expiry ON mixfs_jobs (expires_at) WHERE expires_at IS NOT NULL",
	"CREATE INDEX mixfs_jobs_session ON mixfs_jobs (session_id)",
	"CREATE INDEX mixfs_jobs_changed ON mixfs_jobs (changed_at)",
	"CREATE INDEX mixfs_jobs_lease ON mixfs_jobs (lease_until) WHERE lease_until IS NOT NULL",
	"CREATE TABLE mixfs_gone ("
	" job_id uuid PRIMARY KEY,"
	" session_id text NOT NULL,"
	" gone_at timestamptz NOT NULL DEFAULT clock_timestamp())",
	"CREATE INDEX mixfs_gone_at ON mixfs_gone (gone_at)",
};

static void set_err(char *err, size_t errlen, const char *what, const PGconn *c)
{
	char msg[256];
	size_t n;

	snprintf(msg, sizeof(msg), "%s", c ? PQerrorMessage(c) : "out of memory");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	snprintf(err, errlen, "%s: %s", what, msg);
}

/* The server's notices ("relation already exists, skipping") are not
 * news for the daemon's log. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *connect_db(const struct pgs *p, char *err, size_t errlen)
{
	char app[96];
	const char *keys[] = { "dbname", "application_name", "connect_timeout", NULL };
	const char *vals[] = { p->conninfo, app, "5", NULL };
	PGconn *c;

	snprintf(app, sizeof(app), "mixfs host=%s pid=%ld", p->host, (long)getpid());
	c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		set_err(err, errlen, p->where, c);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* A statement on @c outside the main connection's error handling (open). */
static int run_on(PGconn *c, const char *sql, int n, const char *const *vals,
		  ExecStatusType want, PGresult **out, char *err, size_t errlen)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);

	if (!r || PQresultStatus(r) != want) {
		set_err(err, errlen, "database", c);
		PQclear(r);
		return -EIO;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static int schema_version(PGconn *c, int *version, char *err, size_t errlen)
{
	PGresult *r;
	int rc = run_on(c, "SELECT value FROM mixfs_meta WHERE key = 'schema_version'", 0, NULL,
			PGRES_TUPLES_OK, &r, err, errlen);

	if (rc)
		return rc;
	*version = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return 0;
}

/* Create or upgrade the schema. The advisory lock makes a second host
 * starting at the same instant wait, then find the schema made. */
static int schema_ensure(PGconn *c, char *err, size_t errlen)
{
	char lock[64];
	const char *v[] = { lock };
	int version = 0, rc;

	snprintf(lock, sizeof(lock), "%d", PGS_LOCK_SCHEMA);
	if ((rc = run_on(c, "SELECT pg_advisory_lock($1::int, 0)", 1, v, PGRES_TUPLES_OK, NULL,
			 err, errlen)))
		return rc;
	rc = run_on(c, "CREATE TABLE IF NOT EXISTS mixfs_meta (key text PRIMARY KEY, value text NOT NULL)",
		    0, NULL, PGRES_COMMAND_OK, NULL, err, errlen);
	if (!rc)
		rc = schema_version(c, &version, err, errlen);
	if (!rc && version > PGS_SCHEMA_VERSION) {
		snprintf(err, errlen, "the database's schema is version %d, newer than this mixfs (%d)",
			 version, PGS_SCHEMA_VERSION);
		rc = -EPROTO;
	}
	if (!rc && version < 1) {
		rc = run_on(c, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, err, errlen);
		for (size_t i = 0; !rc && i < sizeof(schema_v1) / sizeof(*schema_v1); i++)
			rc = run_on(c, schema_v1[i], 0, NULL, PGRES_COMMAND_OK, NULL, err, errlen);
		if (!rc)
			rc = run_on(c, "INSERT INTO mixfs_meta VALUES ('schema_version', '1')", 0, NULL,
				    PGRES_COMMAND_OK, NULL, err, errlen);
		if (rc)
			run_on(c, "ROLLBACK", 0, NULL, PGRES_COMMAND_OK, NULL, NULL, 0);
		else
			rc = run_on(c, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, err, errlen);
		if (!rc)
			log_info("%s: schema version %d created", PQdb(c), PGS_SCHEMA_VERSION);
	}
	run_on(c, "SELECT pg_advisory_unlock($1::int, 0)", 1, v, PGRES_TUPLES_OK, NULL, NULL, 0);
	return rc;
}

/* Take the host's lock on @c; -EBUSY naming the holder when another
 * connection has it. */
static int host_lock(const struct pgs *p, PGconn *c, char *err, size_t errlen)
{
	char key[32];
	const char *v[] = { key, p->host };
	PGresult *r;
	int rc;

	snprintf(key, sizeof(key), "%d", PGS_LOCK_HOST);
	if ((rc = run_on(c, "SELECT pg_try_advisory_lock($1::int, hashtext($2))", 2, v,
			 PGRES_TUPLES_OK, &r, err, errlen)))
		return rc;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : -EBUSY;
	PQclear(r);
	if (rc == 0)
		return 0;
	snprintf(err, errlen, "host %s is already mounted on %s", p->host, p->where);
	if (run_on(c, "SELECT a.application_name, coalesce(host(a.client_addr), 'local')"
		      " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
		      " WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid"
		      " AND l.objid = hashtext($2)::oid AND l.granted",
		   2, v, PGRES_TUPLES_OK, &r, NULL, 0) == 0) {
		if (PQntuples(r))
			snprintf(err, errlen, "host %s is already mounted on %s (held by \"%s\" from %s)",
				 p->host, p->where, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		PQclear(r);
	}
	return -EBUSY;
}

static void measure_clock(struct pgs *p, PGconn *c)
{
	util_ms before = util_now_ms(), after;
	PGresult *r;

	if (run_on(c, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8", 0, NULL,
		   PGRES_TUPLES_OK, &r, NULL, 0))
		return;
	after = util_now_ms();
	__atomic_store_n(&p->clock_offset, strtoll(PQgetvalue(r, 0, 0), NULL, 10) - (before + after) / 2,
			 __ATOMIC_RELAXED);
	PQclear(r);
}

int pgs_open(struct pgs **out, const char *conninfo, const char *host, double lease_s,
	     char *err, size_t errlen)
{
	struct pgs *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p || !(p->conninfo = strdup(conninfo))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->lease_s = lease_s;
	snprintf(p->where, sizeof(p->where), "database %s", conninfo);
	if (!(p->conn = connect_db(p, err, errlen))) {
		pgs_close(p);
		return -EIO;
	}
	snprintf(p->where, sizeof(p->where), "database %s on %s", PQdb(p->conn),
		 PQhost(p->conn) && PQhost(p->conn)[0] ? PQhost(p->conn) : "localhost");
	if ((rc = schema_ensure(p->conn, err, errlen)) || (rc = host_lock(p, p->conn, err, errlen))) {
		pgs_close(p);
		return rc;
	}
	measure_clock(p, p->conn);
	*out = p;
	return 0;
}

void pgs_close(struct pgs *p)
{
	if (!p)
		return;
	PQfinish(p->conn);
	PQfinish(p->listen);
	pthread_mutex_destroy(&p->mu);
	free(p->conninfo);
	free(p);
}

const char *pgs_host(const struct pgs *p)
{
	return p->host;
}

const char *pgs_where(const struct pgs *p)
{
	return p->where;
}

util_ms pgs_clock_offset(const struct pgs *p)
{
	return __atomic_load_n(&p->clock_offset, __ATOMIC_RELAXED);
}

uint64_t pgs_statements(const struct pgs *p)
{
	return __atomic_load_n(&p->statements, __ATOMIC_RELAXED);
}

static void went_down(struct pgs *p, const char *why)
{
	if (!p->down_logged)
		log_error("%s unreachable: %s; reads are served from memory, drops fail with EIO",
			  p->where, why);
	p->down_logged = true;
	PQfinish(p->conn);
	p->conn = NULL;
	p->retry_at = util_mono_ms() + RECONNECT_MS;
}

int pgs_ready(struct pgs *p)
{
	char err[256];

	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	if (p->conn)
		went_down(p, "connection lost");
	if (util_mono_ms() < p->retry_at)
		return -EIO;
	if (!(p->conn = connect_db(p, err, sizeof(err)))) {
		went_down(p, err);
		return -EIO;
	}
	if (host_lock(p, p->conn, err, sizeof(err))) {
		/* another daemon took our name while we were away: stay down */
		log_error("%s", err);
		PQfinish(p->conn);
		p->conn = NULL;
		p->retry_at = util_mono_ms() + RECONNECT_MS;
		return -EIO;
	}
	measure_clock(p, p->conn);
	if (p->down_logged)
		log_info("%s reachable again", p->where);
	p->down_logged = false;
	return 0;
}

PGresult *pgs_exec(struct pgs *p, const char *sql, int n, const char *const *vals,
		   ExecStatusType want, int *rc)
{
	PGresult *r;

	*rc = pgs_ready(p);
	if (*rc)
		return NULL;
	__atomic_add_fetch(&p->statements, 1, __ATOMIC_RELAXED);
	r = PQexecParams(p->conn, sql, n, NULL, vals, NULL, NULL, 0);
	if (r && PQresultStatus(r) == want)
		return r;
	*rc = -EIO;
	if (PQstatus(p->conn) != CONNECTION_OK) {
		char why[256];

		set_err(why, sizeof(why), "connection", p->conn);
		went_down(p, why);
	} else {
		log_error("%s: %s", p->where, r ? PQresultErrorMessage(r) : "out of memory");
		*rc = -EPROTO;
	}
	PQclear(r);
	return NULL;
}

int pgs_cmd(struct pgs *p, const char *sql, int n, const char *const *vals)
{
	int rc;
	PGresult *r = pgs_exec(p, sql, n, vals, PGRES_COMMAND_OK, &rc);

	PQclear(r);
	return rc;
}

void pgs_rollback(struct pgs *p)
{
	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		PQclear(PQexec(p->conn, "ROLLBACK"));
}

/* ---- the listener ---- */

static int listen_connect(struct pgs *p)
{
	char err[256];

	if (util_mono_ms() < p->listen_retry_at)
		return -EIO;
	p->listen_retry_at = util_mono_ms() + RECONNECT_MS;
	if (!(p->listen = connect_db(p, err, sizeof(err))))
		return -EIO;
	if (run_on(p->listen, "LISTEN mixfs", 0, NULL, PGRES_COMMAND_OK, NULL, err, sizeof(err))) {
		PQfinish(p->listen);
		p->listen = NULL;
		return -EIO;
	}
	return 0;
}

static int drain(PGconn *c)
{
	PGnotify *n;
	int woken = 0;

	if (!PQconsumeInput(c))
		return -EIO;
	while ((n = PQnotifies(c))) {
		woken = 1;
		PQfreemem(n);
	}
	return woken;
}

int pgs_wait(struct pgs *p, int timeout_ms)
{
	struct pollfd pfd;
	int rc;

	if (p->listen && PQstatus(p->listen) != CONNECTION_OK) {
		PQfinish(p->listen);
		p->listen = NULL;
	}
	if (!p->listen) {
		if (listen_connect(p)) {
			poll(NULL, 0, timeout_ms);
			return -EIO;
		}
		return 2;
	}
	if ((rc = drain(p->listen)))
		goto out;
	pfd.fd = PQsocket(p->listen);
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	rc = drain(p->listen);
out:
	if (rc < 0) {
		PQfinish(p->listen);
		p->listen = NULL;
		return -EIO;
	}
	return rc;
}
