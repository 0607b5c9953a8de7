/*
 * test_workers.c - the worker threads through the job manager, with no
 * mount: a job runs through every stage to complete with its mix on disk,
 * progress rises to 100, and a cancel stops a running job within a second.
 */
#include "corefx.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <time.h>

static void put_stem(struct fx *f, const char *name, double secs)
{
	char path[4096];
	long n = (long)(secs * 48000);
	SF_INFO info = { .samplerate = 48000, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_24 };
	float *x = malloc(sizeof(float) * 2 * (size_t)n);
	SNDFILE *sf;

	for (long i = 0; i < n; i++)
		x[2 * i] = x[2 * i + 1] = 0.25f * (float)sin(2 * M_PI * 440 * i / 48000.0);
	snprintf(path, sizeof(path), "%s/s1/stems/%s", f->media, name);
	assert_non_null(sf = sf_open(path, SFM_WRITE, &info));
	assert_int_equal(sf_writef_float(sf, x, n), n);
	sf_close(sf);
	free(x);
}

static void open_running(struct fx *f)
{
	struct core_config cfg = {
		.media_dir = f->media, .outputs_dir = f->outputs,
		.ttls = { 48 * HOUR, 24 * HOUR }, .workers = 1,
	};
	char err[256];

	assert_int_equal(core_open(&f->core, &cfg, util_now_ms(), err, sizeof(err)), 0);
	assert_int_equal(core_start(f->core), 0);
}

/* Poll the job until @pred holds or @secs pass; its state at the end. */
static enum job_state wait_state(struct core *c, const char *jid, double secs, bool final)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	enum job_state st = JOB_QUEUED;

	for (int i = 0; i < secs * 100; i++) {
		assert_int_equal(core_job_state(c, jid, &st, NULL, NULL), 0);
		if (final ? job_state_is_final(st) : (st != JOB_QUEUED && st != JOB_LOADING_STEMS))
			break;
		nanosleep(&ts, NULL);
	}
	return st;
}

static void test_a_job_runs_to_complete(void **state)
{
	struct fx *f = *state;
	char jid[JOB_ID_LEN + 1], err[256], out[4096];
	struct job j;

	put_stem(f, "a.wav", 2);
	open_running(f);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "r.json", "{}", 2, 0 },
				 util_now_ms(), jid, err, sizeof(err)), 0);
	assert_int_equal(wait_state(f->core, jid, 60, true), JOB_COMPLETE);
	assert_int_equal(core_job_get(f->core, jid, &j), 0);
	assert_int_equal(j.progress, 100);
	assert_int_equal(j.attempts, 1);
	assert_true(j.result.present && fabs(j.result.integrated_lufs + 14) < 0.2);
	assert_non_null(strstr(j.log, "Z exporting"));
	job_clear(&j);
	assert_int_equal(store_output_path(&f->st, "s1", jid, out), 0);
	assert_true(tu_exists("%s", out));
	assert_true(tu_exists("%s/s1/final_mix.wav", f->outputs));
}

static void test_cancel_stops_a_running_job(void **state)
{
	struct fx *f = *state;
	char jid[JOB_ID_LEN + 1], err[256];
	struct job j;
	util_ms t0;

	put_stem(f, "long.wav", 120);
	open_running(f);
	assert_int_equal(core_submit(f->core, &(struct core_request){ "s1", "r.json", "{}", 2, 0 },
				 util_now_ms(), jid, err, sizeof(err)), 0);
	assert_int_not_equal(wait_state(f->core, jid, 30, false), JOB_QUEUED);
	t0 = util_now_ms();
	assert_int_equal(core_cancel(f->core, jid, 0, util_now_ms()), 0);
	assert_int_equal(wait_state(f->core, jid, 5, true), JOB_ERROR);
	assert_true(util_now_ms() - t0 < 1500);
	assert_int_equal(core_job_get(f->core, jid, &j), 0);
	assert_string_equal(j.error, "cancelled");
	job_clear(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_job_runs_to_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_stops_a_running_job, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
