/*
 * test_check.c - the cache's invariant check (check.c) holds after real
 * operations, and fails, naming what broke, on a cache broken on purpose:
 * each breakage runs in a child process that must die of SIGABRT.
 */
#include "corefx.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "../../src/core/core_impl.h"

/* Run @breakage on the open core in a child, then core_check(): it must
 * abort. */
static void expect_abort(struct fx *f, void (*breakage)(struct core *c))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		freopen("/dev/null", "w", stderr);
		breakage(f->core);
		core_check(f->core);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void swap_session_order(struct core *c)
{
	struct csession *s = core_session_get(c, "s1", false);
	struct cjob *t = s->jobs[0];

	s->jobs[0] = s->jobs[1];
	s->jobs[1] = t;
	s->jobs[0]->sess_pos = 0;
	s->jobs[1]->sess_pos = 1;
}

static void queued_without_flag(struct core *c)
{
	core_session_get(c, "s1", false)->jobs[0]->in_queue = false;
}

static void lose_a_receipt(struct core *c)
{
	struct csession *s = core_session_get(c, "s1", false);

	hmap_del(&s->receipts, s->jobs[1]->rec.request_name);
}

static void active_job_in_heap(struct core *c)
{
	struct csession *s = core_session_get(c, "s1", false);

	cleanup_heap_push(&c->expiry, 0, s->jobs[1], &s->jobs[1]->heap_pos);
}

static void test_check_catches_a_broken_cache(void **state)
{
	struct fx *f = *state;
	char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1], err[256];

	open_core(f, T0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "a.json", "{}", 2, 0 },
				 T0, a, err, sizeof(err)), 0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "b.json", "{}", 2, 0 },
				 T0 + 1000, b, err, sizeof(err)), 0);
	core_check(f->core); /* a consistent cache passes */
	expect_abort(f, swap_session_order);
	expect_abort(f, queued_without_flag);
	expect_abort(f, lose_a_receipt);
	expect_abort(f, active_job_in_heap);
}

/* A clock set back makes a new job older than the last: the session keeps
 * its jobs oldest first, and `latest` is still the newest. */
static void test_clock_set_back_keeps_sessions_in_order(void **state)
{
	struct fx *f = *state;
	char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1], latest[JOB_ID_LEN + 1], err[256];

	open_core(f, T0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "a.json", "{}", 2, 0 },
				 T0, a, err, sizeof(err)), 0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "b.json", "{}", 2, 0 },
				 T0 - HOUR, b, err, sizeof(err)), 0);
	core_check(f->core);
	assert_int_equal(core_session_latest(f->core, "s1", latest), 0);
	assert_string_equal(latest, a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_catches_a_broken_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_set_back_keeps_sessions_in_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
