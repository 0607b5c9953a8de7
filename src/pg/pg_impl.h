/*
 * pg_impl.h - what conn.c (connections, schema, the host lock, the
 * listener) and rows.c (the statements on jobs) share.
 */
#ifndef MIXFS_PG_IMPL_H
#define MIXFS_PG_IMPL_H

#include <libpq-fe.h>
#include <pthread.h>

#include "mixfs/pgstore.h"

/* Advisory lock keys (the two-int form): the schema's, a host's, a
 * session's cap. "mixf" and friends, so other users of the database are
 * unlikely to collide. */
#define PGS_LOCK_SCHEMA 0x6d697866
#define PGS_LOCK_HOST 0x6d697867
#define PGS_LOCK_SESSION 0x6d697868

struct pgs {
	pthread_mutex_t mu;	/* the main connection and what follows */
	PGconn *conn;		/* NULL while down */
	util_ms retry_at;	/* no reconnect before this (monotonic ms) */
	bool down_logged;
	util_ms clock_offset;
	uint64_t statements;
	char since[64];		/* only the pgs_changes() thread: where the
				 * next change read starts (database time) */
	PGconn *listen;		/* only the pgs_wait() thread */
	util_ms listen_retry_at;
	char *conninfo;
	char host[JOB_HOST_MAX + 1];
	double lease_s;
	char where[256];
};

/* The main connection, reconnecting when it is down and due; -EIO if it
 * cannot be had. Caller holds mu. */
int pgs_ready(struct pgs *p);

/*
 * Run @sql with @n text parameters on the main connection. Returns the
 * result (PQclear it) when its status is @want, else NULL with *@rc set:
 * -EIO, after logging (once per outage when the connection is lost,
 * with the statement's error otherwise). Caller holds mu.
 */
PGresult *pgs_exec(struct pgs *p, const char *sql, int n, const char *const *vals,
		   ExecStatusType want, int *rc);
/* A statement with no result wanted. */
int pgs_cmd(struct pgs *p, const char *sql, int n, const char *const *vals);
/* ROLLBACK after a failure inside a transaction (ignoring its own). */
void pgs_rollback(struct pgs *p);

#endif
