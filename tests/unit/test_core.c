/*
 * test_core.c - the job manager beyond expiry: the record as the truth of a
 * job (its index file repaired from it at open, both ways), files left by
 * records that are unreadable or gone, ownership checked by the core itself
 * (not only by the FUSE layer's permissions), and the expiry rule under a
 * clock that jumps.
 */
#include "corefx.h"

#include <errno.h>
#include <dirent.h>
#include <sys/time.h>

static const char *const ORPHAN = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

static void put_index(struct fx *f, const char *jid, const char *sid)
{
	char path[4096], text[256];

	snprintf(path, sizeof(path), "%s/jobs_index/%s.json", f->media, jid);
	snprintf(text, sizeof(text), "{\"job_id\": \"%s\", \"session_id\": \"%s\"}\n", jid, sid);
	tu_write(path, text);
}

/* Entries of @dir under @media, dot files aside. */
static int entries(struct fx *f, const char *dir)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", f->media, dir);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void age(const char *path, util_ms when)
{
	struct timeval tv[2] = { { when / 1000, 0 }, { when / 1000, 0 } };

	assert_int_equal(utimes(path, tv), 0);
}

/* A crash between a drop's index write and its record's rename: the drop
 * was never acknowledged, so its index goes at the next open. */
static void test_index_without_record_is_removed_at_open(void **state)
{
	struct fx *f = *state;

	put_index(f, ORPHAN, "s1");
	open_core(f, T0);
	assert_false(index_exists(f, ORPHAN));
}

static void test_missing_index_is_written_again_at_open(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1], path[4096];

	put_job(f, "s1", JOB_QUEUED, T0, id);
	snprintf(path, sizeof(path), "%s/jobs_index/%s.json", f->media, id);
	assert_int_equal(unlink(path), 0);
	open_core(f, T0);
	assert_true(index_exists(f, id));
}

/* The record cannot be written (its folder is a file): submit fails and
 * leaves neither record nor index, so nothing runs after a restart. */
static void test_failed_submit_leaves_no_index(void **state)
{
	struct fx *f = *state;
	char path[4096], jid[JOB_ID_LEN + 1], err[256];

	assert_int_equal(store_session_create(&f->st, "s2", (uid_t)-1, (gid_t)-1), 0);
	snprintf(path, sizeof(path), "%s/s2/jobs", f->media);
	assert_int_equal(rmdir(path), 0);
	tu_write(path, "not a folder");
	open_core(f, T0);
	assert_int_not_equal(core_submit(f->core, &(struct core_request){ "s2", "r.json", "{}", 2, 0 },
				 T0, jid, err, sizeof(err)), 0);
	assert_int_equal(entries(f, "jobs_index"), 0);
}

/* The index cannot be written: submit fails and leaves no record either. */
static void test_failed_index_write_leaves_no_record(void **state)
{
	struct fx *f = *state;
	char path[4096], jid[JOB_ID_LEN + 1], err[256];

	open_core(f, T0);
	snprintf(path, sizeof(path), "%s/jobs_index", f->media);
	assert_int_equal(rmdir(path), 0);
	tu_write(path, "not a folder");
	assert_int_not_equal(core_submit(f->core, &(struct core_request){ "s1", "r.json", "{}", 2, 0 },
				 T0, jid, err, sizeof(err)), 0);
	assert_int_equal(entries(f, "s1/jobs"), 0);
}

/* A corrupt record's own output and index file go with it. */
static void test_corrupt_record_takes_its_files_along(void **state)
{
	struct fx *f = *state;
	char path[4096], out[4096];

	snprintf(path, sizeof(path), "%s/s1/jobs/%s.json", f->media, ORPHAN);
	tu_write(path, "{\"job_id\": \"0b1c");
	put_index(f, ORPHAN, "s1");
	assert_int_equal(store_output_dir(&f->st, "s1"), 0);
	assert_int_equal(store_output_path(&f->st, "s1", ORPHAN, out), 0);
	tu_write(out, "RIFF....WAVE");
	age(out, T0 - 100 * HOUR);
	age(path, T0 - 20 * HOUR);
	open_core(f, T0); /* a day has not passed since it was written: all kept */
	assert_true(index_exists(f, ORPHAN));
	assert_true(output_exists(f, "s1", ORPHAN));
	core_close(f->core);
	f->core = NULL;
	open_core(f, T0 + 5 * HOUR);
	assert_false(index_exists(f, ORPHAN));
	assert_false(output_exists(f, "s1", ORPHAN));
	assert_false(tu_exists("%s.corrupt", path));
}

/* A record deleted behind the daemon's back: its output is not provably
 * expired until the longest TTL has passed since it was written. */
static void test_output_of_a_deleted_record_goes_once_expired(void **state)
{
	struct fx *f = *state;
	char out[4096];

	put_index(f, ORPHAN, "s1");
	assert_int_equal(store_output_dir(&f->st, "s1"), 0);
	assert_int_equal(store_output_path(&f->st, "s1", ORPHAN, out), 0);
	tu_write(out, "RIFF....WAVE");
	age(out, T0 - 47 * HOUR);
	open_core(f, T0);
	assert_true(output_exists(f, "s1", ORPHAN));
	assert_true(index_exists(f, ORPHAN));
	core_cleanup(f->core, T0 + 2 * HOUR);
	assert_false(output_exists(f, "s1", ORPHAN));
	assert_false(index_exists(f, ORPHAN));
}

/* An older writer's final record with no finished_at or expires_at still
 * shows when it goes. */
static void test_final_record_without_times_shows_expires_at(void **state)
{
	struct fx *f = *state;
	char path[4096];
	struct job j;

	snprintf(path, sizeof(path), "%s/s1/jobs/%s.json", f->media, ORPHAN);
	tu_write(path, "{\"job_id\": \"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d\", \"session_id\": "
		       "\"s1\", \"state\": \"complete\", \"updated_at\": \"2026-11-30T01:00:00Z\"}");
	open_core(f, T0);
	assert_int_equal(core_job_get(f->core, ORPHAN, &j), 0);
	assert_true(j.expires_at == T0 - 2 * HOUR + 48 * HOUR);
	job_clear(&j);
}

static void test_error_job_expires_after_failed_ttl(void **state)
{
	struct fx *f = *state;
	char jid[JOB_ID_LEN + 1], err[256];
	struct job j;

	open_core(f, T0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "bad.json", "{\"x\": 1}", 8, 0 },
				 T0, jid, err, sizeof(err)), -EINVAL);
	assert_int_equal(core_job_get(f->core, jid, &j), 0);
	assert_int_equal(j.state, JOB_ERROR);
	assert_true(j.finished_at == T0);
	assert_true(j.expires_at == T0 + 24 * HOUR);
	job_clear(&j);
}

/* The core holds its own line, whatever the layer above checks. */
static void test_other_users_may_not_cancel_or_delete(void **state)
{
	struct fx *f = *state;
	char q[JOB_ID_LEN + 1], e[JOB_ID_LEN + 1], err[256];

	open_core(f, T0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "q.json", "{}", 2, 1000 },
				 T0, q, err, sizeof(err)), 0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "e.json", "[", 1, 1000 },
				 T0, e, err, sizeof(err)), -EINVAL);
	assert_int_equal(core_cancel(f->core, q, 1001, T0), -EACCES);
	assert_int_equal(core_delete(f->core, e, 1001), -EACCES);
	assert_int_equal(core_cancel(f->core, q, 1000, T0), 0);
	assert_int_equal(core_delete(f->core, e, 0), 0);
}

/* The rule under a clock that jumps (mixfs(1), EXPIRY): expiry follows the
 * wall clock, as the timestamps in the records do. A jump forward expires
 * what the new time says has expired, never an active job; a jump back
 * deletes nothing early. */
static void test_clock_jumps(void **state)
{
	struct fx *f = *state;
	char done[JOB_ID_LEN + 1], fresh[JOB_ID_LEN + 1], active[JOB_ID_LEN + 1];

	put_job(f, "s1", JOB_COMPLETE, T0 - 47 * HOUR, done);
	put_job(f, "s1", JOB_COMPLETE, T0, fresh);
	put_job(f, "s1", JOB_MIXING, T0 - 1000 * HOUR, active);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 - 72 * HOUR), 0);
	assert_true(record_exists(f, "s1", done));
	assert_int_equal(core_cleanup(f->core, T0 + 2 * HOUR), 1);
	assert_false(record_exists(f, "s1", done));
	assert_true(record_exists(f, "s1", fresh));
	assert_int_equal(core_cleanup(f->core, T0 + 72 * HOUR), 1);
	assert_true(record_exists(f, "s1", active));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_without_record_is_removed_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_index_is_written_again_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_submit_leaves_no_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_index_write_leaves_no_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record_takes_its_files_along, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_of_a_deleted_record_goes_once_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_final_record_without_times_shows_expires_at, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_job_expires_after_failed_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_users_may_not_cancel_or_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_jumps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
