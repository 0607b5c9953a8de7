/*
 * test_pgstore.c - the PostgreSQL record store against a real server:
 * MIXFS_TEST_DATABASE names it (tests/lib/with_pg.sh starts one of its own
 * and sets it). The fence (a write naming an old rev, or a lease that ran
 * out), claim order, the host lock, the cap, deletion and change reads.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mixfs/pgstore.h"

static const char *db(void)
{
	const char *d = getenv("MIXFS_TEST_DATABASE");

	if (!d)
		fail_msg("MIXFS_TEST_DATABASE is not set: run through tests/lib/with_pg.sh");
	return d;
}

static struct pgs *open_host(const char *host, double lease)
{
	char err[256];
	struct pgs *p;

	if (pgs_open(&p, db(), host, lease, err, sizeof(err)))
		fail_msg("pgs_open %s: %s", host, err);
	return p;
}

static void new_job(struct job *j, const char *sid, util_ms created)
{
	job_init_new(j, sid, created, 0);
}

static int edit_claim(void *ctx, struct job *j)
{
	j->attempts++;
	job_set_state(j, JOB_LOADING_STEMS, j->updated_at + 1, 1000, 1000);
	snprintf(j->host, sizeof(j->host), "%s", (const char *)ctx);
	return 0;
}

static int edit_requeue(void *ctx, struct job *j)
{
	(*(int *)ctx)++;
	job_set_state(j, JOB_QUEUED, j->updated_at + 1, 1000, 1000);
	return 0;
}

static void test_host_lock(void **state)
{
	struct pgs *a = open_host("lock-a", 5), *b;
	char err[256];

	(void)state;
	assert_int_equal(pgs_open(&b, db(), "lock-a", 5, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "host lock-a is already mounted"));
	b = open_host("lock-b", 5);
	pgs_close(b);
	pgs_close(a);
	b = open_host("lock-a", 5); /* the lock went with its connection */
	pgs_close(b);
}

static void test_rev_fence(void **state)
{
	struct pgs *p = open_host("fence", 5);
	struct pgs_row row;
	struct job j;
	int64_t rev, rev2;

	(void)state;
	new_job(&j, "fence", 1000);
	assert_int_equal(pgs_insert(p, &j, 0, &rev), 0);
	j.progress = 5;
	assert_int_equal(pgs_update(p, &j, rev, false, &rev2, NULL), 0);
	assert_true(rev2 > rev);
	j.progress = 9; /* a writer that missed the change above */
	assert_int_equal(pgs_update(p, &j, rev, false, NULL, NULL), -ESTALE);
	assert_int_equal(pgs_get(p, j.id, &row), 0);
	assert_int_equal(row.job.progress, 5);
	assert_int_equal(row.rev, rev2);
	job_clear(&row.job);
	job_clear(&j);
	pgs_close(p);
}

static char host_a[] = "claim-a", host_b[] = "claim-b";

static void test_claim_lease_and_requeue(void **state)
{
	struct pgs *a = open_host("claim-a", 1), *b = open_host("claim-b", 1);
	struct pgs_row ra, rb, rc;
	struct job old, young;
	int64_t rev;
	size_t n = 0;
	int requeued = 0;

	(void)state;
	new_job(&young, "claims", 2000000);
	new_job(&old, "claims", 1000000);
	assert_int_equal(pgs_insert(a, &young, 0, &rev), 0);
	assert_int_equal(pgs_insert(a, &old, 0, &rev), 0);
	assert_int_equal(pgs_claim(b, edit_claim, host_b, &rb), 0);
	assert_string_equal(rb.job.id, old.id); /* oldest first */
	assert_string_equal(rb.job.host, "claim-b");
	assert_int_equal(pgs_claim(a, edit_claim, host_a, &ra), 0);
	assert_string_equal(ra.job.id, young.id);
	assert_int_equal(pgs_claim(a, edit_claim, host_a, &rc), -ENOENT);
	/* a write by the holder renews; by anyone else it is fenced */
	assert_int_equal(pgs_update(b, &rb.job, rb.rev, true, &rb.rev, NULL), 0);
	assert_int_equal(pgs_update(a, &rb.job, rb.rev, true, NULL, NULL), -ESTALE);
	/* the lease runs out by the database's clock: the holder is fenced,
	 * and a requeue takes the job */
	usleep(1300 * 1000);
	assert_int_equal(pgs_update(b, &rb.job, rb.rev, true, NULL, NULL), -ESTALE);
	assert_int_equal(pgs_requeue(a, false, edit_requeue, &requeued, &n), 0);
	assert_true(n >= 2);
	assert_true(requeued >= 2);
	assert_int_equal(pgs_claim(a, edit_claim, host_a, &rc), 0);
	assert_string_equal(rc.job.id, old.id);
	assert_int_equal(rc.job.attempts, 2);
	job_clear(&ra.job);
	job_clear(&rb.job);
	job_clear(&rc.job);
	job_clear(&old);
	job_clear(&young);
	pgs_close(a);
	pgs_close(b);
}

static void test_cap(void **state)
{
	struct pgs *p = open_host("cap", 5);
	struct job j;
	int64_t rev;

	(void)state;
	for (int i = 0; i < 3; i++) {
		new_job(&j, "capped", 1000 + i);
		assert_int_equal(pgs_insert(p, &j, 2, &rev), i < 2 ? 0 : -EDQUOT);
		job_clear(&j);
	}
	pgs_close(p);
}

static int drops; /* test-local counters */
static int drop_ok(void *ctx, const struct job *j)
{
	(void)ctx;
	(void)j;
	drops++;
	return 0;
}

static int gones;
static void gone_count(void *ctx, const char *sid, const char *jid)
{
	(void)ctx;
	(void)jid;
	gones += strcmp(sid, "expiring") == 0;
}

/* rows of the session "expiring" a change read brings (the read also
 * re-reads a few seconds of other tests' rows) */
static int rows_seen;
static void row_count(void *ctx, struct pgs_row *r)
{
	(void)ctx;
	rows_seen += strcmp(r->job.session, "expiring") == 0;
	job_clear(&r->job);
}

static void test_delete_once_and_changes(void **state)
{
	struct pgs *a = open_host("del-a", 5), *b = open_host("del-b", 5);
	struct pgs_delete d = { drop_ok, gone_count, NULL };
	struct pgs_sink sink = { NULL, row_count, gone_count, NULL };
	struct job j;
	int64_t rev;
	size_t n;

	(void)state;
	assert_int_equal(pgs_changes(b, true, &sink), 0); /* from here on, deltas */
	new_job(&j, "expiring", 1000);
	job_set_state(&j, JOB_ERROR, 1000, 1, 1); /* expired long ago */
	assert_int_equal(pgs_insert(a, &j, 0, &rev), 0);
	rows_seen = gones = 0;
	assert_int_equal(pgs_changes(b, false, &sink), 0);
	assert_int_equal(rows_seen, 1);
	drops = gones = 0;
	assert_int_equal(pgs_delete(a, NULL, &d, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(drops, 1);
	assert_int_equal(pgs_delete(b, NULL, &d, &n), 0);
	assert_int_equal(n, 0); /* deleted once */
	assert_int_equal(pgs_get(a, j.id, &(struct pgs_row){ 0 }), -ENOENT);
	gones = 0;
	assert_int_equal(pgs_changes(b, false, &sink), 0);
	assert_int_equal(gones, 1); /* the other host hears of it */
	job_clear(&j);
	pgs_close(a);
	pgs_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: it needs the only queued rows to be its own */
		cmocka_unit_test(test_claim_lease_and_requeue),
		cmocka_unit_test(test_host_lock),
		cmocka_unit_test(test_rev_fence),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_delete_once_and_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
