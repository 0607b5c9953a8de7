/*
 * test_cleanup.c - expiry and the cleanup pass (SPEC section 4), through the
 * job manager with no workers. Records are written on disk first, as an
 * earlier daemon (or the older manager) left them; time is passed in.
 */
#include "corefx.h"

#include <errno.h>
#include <sys/time.h>

#include "mixfs/cleanup.h"


static void test_complete_job_49h_old_is_deleted(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1];
	struct job j;

	put_job(f, "s1", JOB_COMPLETE, T0, id);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 1);
	assert_false(record_exists(f, "s1", id));
	assert_int_equal(core_job_get(f->core, id, &j), -ENOENT);
}

static void test_error_job_25h_old_is_deleted(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1];

	put_job(f, "s1", JOB_ERROR, T0, id);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 25 * HOUR), 1);
	assert_false(record_exists(f, "s1", id));
	assert_false(index_exists(f, id));
}

static void test_mixing_job_100h_old_is_kept(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1];
	struct cleanup_ttls ttls = { 48 * HOUR, 24 * HOUR };

	assert_int_equal(cleanup_expiry(JOB_MIXING, T0 - 100 * HOUR, T0, &ttls), CLEANUP_NEVER);
	put_job(f, "s1", JOB_MIXING, T0 - 100 * HOUR, id);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 100 * HOUR), 0);
	assert_true(record_exists(f, "s1", id));
	assert_true(index_exists(f, id));
}

static void test_expired_complete_job_output_is_deleted(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1];

	put_job(f, "s1", JOB_COMPLETE, T0, id);
	open_core(f, T0);
	assert_true(output_exists(f, "s1", id));
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 1);
	assert_false(output_exists(f, "s1", id));
}

static void test_expired_job_index_file_is_deleted(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1];

	put_job(f, "s1", JOB_COMPLETE, T0, id);
	open_core(f, T0);
	assert_true(index_exists(f, id));
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 1);
	assert_false(index_exists(f, id));
}

static void test_active_jobs_are_untouched(void **state)
{
	struct fx *f = *state;
	char ids[JOB_EXPORTING + 1][JOB_ID_LEN + 1], path[4096], *before, *after;
	size_t n;
	enum job_state st;

	for (int s = JOB_QUEUED; s <= JOB_EXPORTING; s++)
		put_job(f, "s1", (enum job_state)s, T0 - 1000 * HOUR, ids[s]);
	snprintf(path, sizeof(path), "%s/s1/jobs/%s.json", f->media, ids[JOB_QUEUED]);
	assert_int_equal(util_read_file_alloc(path, 1 << 20, &before, &n), 0);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 1000 * HOUR), 0);
	for (int s = JOB_QUEUED; s <= JOB_EXPORTING; s++) {
		assert_true(record_exists(f, "s1", ids[s]));
		assert_true(index_exists(f, ids[s]));
		assert_int_equal(core_job_state(f->core, ids[s], &st, NULL, NULL), 0);
		assert_true(job_state_is_active(st));
	}
	assert_int_equal(util_read_file_alloc(path, 1 << 20, &after, &n), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_boundaries_to_the_second(void **state)
{
	struct fx *f = *state;
	char done[JOB_ID_LEN + 1], failed[JOB_ID_LEN + 1];

	put_job(f, "s1", JOB_COMPLETE, T0, done);
	put_job(f, "s1", JOB_ERROR, T0, failed);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 24 * HOUR - 1000), 0);
	assert_int_equal(core_cleanup(f->core, T0 + 24 * HOUR), 1);
	assert_false(record_exists(f, "s1", failed));
	assert_int_equal(core_cleanup(f->core, T0 + 48 * HOUR - 1000), 0);
	assert_true(record_exists(f, "s1", done));
	assert_int_equal(core_cleanup(f->core, T0 + 48 * HOUR), 1);
	assert_false(record_exists(f, "s1", done));
}

static void test_future_updated_at_counts_as_now(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1];

	put_job(f, "s1", JOB_COMPLETE, T0 + 1000 * HOUR, id);
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 48 * HOUR - 1000), 0);
	assert_true(record_exists(f, "s1", id));
	assert_int_equal(core_cleanup(f->core, T0 + 48 * HOUR), 1);
	assert_false(record_exists(f, "s1", id));
}

static void test_corrupt_record_is_moved_aside(void **state)
{
	struct fx *f = *state;
	char good[JOB_ID_LEN + 1], path[4096], aside[4200];
	const char *bad = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
	struct timeval old[2] = { { (T0 - 25 * HOUR) / 1000, 0 }, { (T0 - 25 * HOUR) / 1000, 0 } };

	put_job(f, "s1", JOB_COMPLETE, T0 - 49 * HOUR, good);
	snprintf(path, sizeof(path), "%s/s1/jobs/%s.json", f->media, bad);
	tu_write(path, "{\"job_id\": \"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d\", \"sta");
	open_core(f, T0); /* the pass at open still deletes the expired job */
	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	assert_false(tu_exists("%s", path));
	assert_true(tu_exists("%s", aside));
	assert_false(record_exists(f, "s1", good));
	core_close(f->core);
	f->core = NULL;
	/* An old .corrupt file goes once it is older than failed_ttl. */
	assert_int_equal(utimes(aside, old), 0);
	open_core(f, T0);
	assert_false(tu_exists("%s", aside));
}

static void test_newer_final_mix_survives_older_expiry(void **state)
{
	struct fx *f = *state;
	char old_id[JOB_ID_LEN + 1], new_id[JOB_ID_LEN + 1], final[4096];
	char *text;
	size_t n;

	put_job(f, "s1", JOB_COMPLETE, T0, old_id);
	put_job(f, "s1", JOB_COMPLETE, T0 + 10 * HOUR, new_id);
	snprintf(final, sizeof(final), "%s/s1/jobs/%s.wav", f->outputs, new_id);
	tu_write(final, "RIFF..newer..WAVE");
	assert_int_equal(store_publish_final(&f->st, "s1", new_id), 0);
	open_core(f, T0 + 10 * HOUR);
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 1);
	snprintf(final, sizeof(final), "%s/s1/final_mix.wav", f->outputs);
	assert_int_equal(util_read_file_alloc(final, 1024, &text, &n), 0);
	assert_string_equal(text, "RIFF..newer..WAVE");
	free(text);
	/* and when the newer one expires, its final_mix.wav goes with it */
	assert_int_equal(core_cleanup(f->core, T0 + 59 * HOUR), 1);
	assert_false(tu_exists("%s", final));
}

static void test_identical_copy_of_output_is_deleted(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1], final[4096];

	put_job(f, "s1", JOB_COMPLETE, T0, id);
	snprintf(final, sizeof(final), "%s/s1/final_mix.wav", f->outputs);
	tu_write(final, "RIFF....WAVE"); /* an older writer copied instead of linking */
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 1);
	assert_false(tu_exists("%s", final));
}

static void test_failing_deletion_does_not_stop_the_pass(void **state)
{
	struct fx *f = *state;
	char stuck[JOB_ID_LEN + 1], other[JOB_ID_LEN + 1], path[4096];

	put_job(f, "s1", JOB_COMPLETE, T0, stuck);
	put_job(f, "s1", JOB_COMPLETE, T0 + 1000, other);
	/* The first job's output cannot be unlinked: it became a folder. */
	snprintf(path, sizeof(path), "%s/s1/jobs/%s.wav", f->outputs, stuck);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(util_mkdir_p(path, 0755), 0);
	snprintf(path + strlen(path), 64, "/keep");
	tu_write(path, "x");
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 1);
	assert_true(record_exists(f, "s1", stuck));
	assert_false(record_exists(f, "s1", other));
	/* the stuck job stays listed and is retried later, not in a loop */
	assert_int_equal(core_cleanup(f->core, T0 + 49 * HOUR), 0);
	assert_int_equal(core_job_state(f->core, stuck, NULL, NULL, NULL), 0);
}

static void test_cache_stays_in_step(void **state)
{
	struct fx *f = *state;
	char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1], jid[JOB_ID_LEN + 1], err[256];
	core_jid *ids;
	size_t n;

	put_job(f, "s1", JOB_COMPLETE, T0, a);
	put_job(f, "s1", JOB_QUEUED, T0, b);
	open_core(f, T0);
	assert_int_equal(core_session_jobs(f->core, "s1", &ids, &n), 0);
	assert_int_equal(n, 2);
	free(ids);
	/* enqueue runs the pass */
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "take.json", "{}", 2, 0 },
				 T0 + 49 * HOUR, jid, err, sizeof(err)), 0);
	assert_int_equal(core_session_jobs(f->core, "s1", &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], b);
	assert_string_equal(ids[1], jid);
	free(ids);
	assert_true(index_exists(f, jid));
	assert_false(index_exists(f, a));
}

static void test_failed_job_leftover_output_is_deleted(void **state)
{
	struct fx *f = *state;
	char id[JOB_ID_LEN + 1], path[4096];

	put_job(f, "s1", JOB_ERROR, T0, id);
	assert_int_equal(store_output_dir(&f->st, "s1"), 0);
	snprintf(path, sizeof(path), "%s/s1/jobs/%s.wav", f->outputs, id);
	tu_write(path, "RIFF"); /* failed after its export */
	open_core(f, T0);
	assert_int_equal(core_cleanup(f->core, T0 + 25 * HOUR), 1);
	assert_false(output_exists(f, "s1", id));
}

static void test_receipt_follows_the_newest_live_job(void **state)
{
	struct fx *f = *state;
	char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1], jid[JOB_ID_LEN + 1], err[256];
	char **names;
	size_t n;

	open_core(f, T0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "take.json", "{}", 2, 0 },
				 T0, a, err, sizeof(err)), 0);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "take.json", "{", 1, 0 },
				 T0 + 1000, b, err, sizeof(err)), -EINVAL);
	assert_int_equal(core_receipt(f->core, "s1", "take.json", jid), 0);
	assert_string_equal(jid, b);
	assert_int_equal(core_receipt_names(f->core, "s1", &names, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "take.json");
	free(names[0]);
	free(names);
	/* the newer (error) job expires: the name reads back the older one */
	assert_int_equal(core_cleanup(f->core, T0 + 25 * HOUR), 1);
	assert_int_equal(core_receipt(f->core, "s1", "take.json", jid), 0);
	assert_string_equal(jid, a);
	assert_int_equal(core_cancel(f->core, a, 0, T0 + 26 * HOUR), 0);
	assert_int_equal(core_delete(f->core, a, 0), 0);
	assert_int_equal(core_receipt(f->core, "s1", "take.json", jid), -ENOENT);
	assert_int_equal(core_receipt_names(f->core, "s1", &names, &n), 0);
	assert_int_equal(n, 0);
	free(names);
}

static void test_heap_orders_by_expiry(void **state)
{
	struct cleanup_heap h;
	size_t pos[500];
	util_ms last = INT64_MIN, e;

	(void)state;
	cleanup_heap_init(&h);
	srand(7);
	for (int i = 0; i < 500; i++)
		assert_int_equal(cleanup_heap_push(&h, rand() % 1000, &pos[i], &pos[i]), 0);
	for (int i = 0; i < 500; i += 3)
		cleanup_heap_remove(&h, pos[i]);
	while (cleanup_heap_peek(&h, &e)) {
		size_t *p = cleanup_heap_peek(&h, &e);

		assert_true(e >= last);
		last = e;
		cleanup_heap_remove(&h, *p);
	}
	for (int i = 0; i < 500; i++)
		assert_int_equal(pos[i], CLEANUP_NOT_QUEUED);
	cleanup_heap_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_complete_job_49h_old_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_job_25h_old_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixing_job_100h_old_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_complete_job_output_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_job_index_file_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_jobs_are_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boundaries_to_the_second, setup, teardown),
		cmocka_unit_test_setup_teardown(test_future_updated_at_counts_as_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record_is_moved_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_final_mix_survives_older_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identical_copy_of_output_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_deletion_does_not_stop_the_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_stays_in_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_job_leftover_output_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receipt_follows_the_newest_live_job, setup, teardown),
		cmocka_unit_test(test_heap_orders_by_expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
