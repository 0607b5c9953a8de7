/* test_job.c - states, transitions, timestamps and the record's JSON. */
#include "testutil.h"

#include <errno.h>

#include "mixfs/job.h"

#define HOUR UTIL_MS_PER_HOUR

static void test_state_names_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < JOB_STATE_COUNT; i++) {
		enum job_state s;

		assert_int_equal(job_state_parse(job_state_name((enum job_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	enum job_state s;

	assert_int_equal(job_state_parse("finished", &s), -EINVAL);
	assert_null(job_state_name(JOB_STATE_COUNT));
}

static void test_transitions(void **state)
{
	(void)state;
	/* the happy path, stage by stage */
	for (int s = JOB_QUEUED; s < JOB_EXPORTING; s++)
		assert_true(job_transition_allowed((enum job_state)s, (enum job_state)(s + 1)));
	assert_true(job_transition_allowed(JOB_EXPORTING, JOB_COMPLETE));
	/* any active state may fail or be requeued */
	for (int s = JOB_QUEUED; s <= JOB_EXPORTING; s++) {
		assert_true(job_transition_allowed((enum job_state)s, JOB_ERROR));
		assert_int_equal(job_transition_allowed((enum job_state)s, JOB_QUEUED), s != JOB_QUEUED);
	}
	/* no going back a stage, no skipping to complete, nothing leaves final */
	assert_false(job_transition_allowed(JOB_MIXING, JOB_LOADING_STEMS));
	assert_false(job_transition_allowed(JOB_MIXING, JOB_COMPLETE));
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		assert_false(job_transition_allowed(JOB_COMPLETE, (enum job_state)s));
		assert_false(job_transition_allowed(JOB_ERROR, (enum job_state)s));
	}
}

static void test_set_state_stamps_times(void **state)
{
	struct job j;

	(void)state;
	job_init_new(&j, "s1", 1000, 42);
	assert_true(job_id_valid(j.id));
	job_set_state(&j, JOB_LOADING_STEMS, 2000, 48 * HOUR, 24 * HOUR);
	assert_int_equal(j.started_at, 2000);
	assert_int_equal(j.updated_at, 2000);
	assert_int_equal(j.finished_at, 0);
	job_set_state(&j, JOB_EXPORTING, 3000, 48 * HOUR, 24 * HOUR);
	job_set_state(&j, JOB_COMPLETE, 4000, 48 * HOUR, 24 * HOUR);
	assert_int_equal(j.finished_at, 4000);
	assert_int_equal(j.expires_at, 4000 + 48 * HOUR);
	job_clear(&j);
}

static void test_iso_parse_and_format(void **state)
{
	util_ms t;
	char buf[UTIL_ISO_MAX];

	(void)state;
	assert_int_equal(util_iso_parse("2026-11-30T03:00:00Z", &t), 0);
	assert_int_equal(t, 1796007600000LL);
	util_iso_format(t, buf);
	assert_string_equal(buf, "2026-11-30T03:00:00Z");
	assert_int_equal(util_iso_parse("2026-11-30T03:00:00.250Z", &t), 0);
	assert_int_equal(t, 1796007600250LL);
	util_iso_format(t, buf);
	assert_string_equal(buf, "2026-11-30T03:00:00.250Z");
	assert_int_equal(util_iso_parse("2026-11-30T03:00:00.123456+00:00", &t), 0);
	assert_int_equal(t, 1796007600123LL);
	assert_int_equal(util_iso_parse("2026-11-30T05:30:00+02:30", &t), 0);
	assert_int_equal(t, 1796007600000LL);
	/* far years keep four digits, so they read back */
	assert_int_equal(util_iso_parse("0026-11-28T02:00:00.500Z", &t), 0);
	util_iso_format(t, buf);
	assert_string_equal(buf, "0026-11-28T02:00:00.500Z");
	assert_int_equal(util_iso_parse("2026-11-30", &t), -EINVAL);
	assert_int_equal(util_iso_parse("2026-13-30T03:00:00Z", &t), -EINVAL);
	assert_int_equal(util_iso_parse("2026-11-30T03:00:00Zjunk", &t), -EINVAL);
}

static void test_json_round_trip(void **state)
{
	struct job j, back;
	char err[128], *text;

	(void)state;
	job_init_new(&j, "s1", 1796007600000LL, 1000);
	job_set_str(&j.request_name, "take3.json");
	job_set_str(&j.request_text, "{ \"master\": null }\n");
	job_set_state(&j, JOB_LOADING_STEMS, 1796007601000LL, 48 * HOUR, 24 * HOUR);
	j.attempts = 2;
	j.progress = 62;
	text = job_to_json(&j);
	assert_non_null(text);
	assert_int_equal(job_from_json(text, &back, err, sizeof(err)), 0);
	assert_string_equal(back.id, j.id);
	assert_string_equal(back.session, "s1");
	assert_int_equal(back.state, JOB_LOADING_STEMS);
	assert_int_equal(back.progress, 62);
	assert_int_equal(back.attempts, 2);
	assert_int_equal(back.owner_uid, 1000);
	assert_int_equal(back.started_at, 1796007601000LL);
	assert_string_equal(back.request_text, "{ \"master\": null }\n");
	assert_non_null(strstr(text, "\"updated_at\":\t\"2026-11-30T03:00:01Z\""));
	free(text);
	job_clear(&back);
	job_clear(&j);
}

/* Round-trip @text held as a job's request: the record is within
 * JOB_JSON_MAX and reads back with the exact text. */
static void assert_request_round_trips(const char *text)
{
	struct job j, back;
	char err[128], *json;

	job_init_new(&j, "s1", 1796007600000LL, 1000);
	job_set_str(&j.request_text, text);
	json = job_to_json(&j);
	assert_non_null(json);
	assert_true(strlen(json) <= JOB_JSON_MAX);
	assert_int_equal(job_from_json(json, &back, err, sizeof(err)), 0);
	assert_string_equal(back.request_text, text);
	free(json);
	job_clear(&back);
	job_clear(&j);
}

/* Whatever a drop can hold, its record must read back: 1 MiB of control
 * bytes (each escaped to six), and nesting at the JSON reader's limit. */
static void test_worst_requests_round_trip(void **state)
{
	size_t n = 1024 * 1024 - 16, depth = 999;
	char *text = malloc(n + 1), *deep = malloc(depth * 2 + 16), *p = deep;

	(void)state;
	memcpy(text, "{\"x\": \"", 7);
	memset(text + 7, 1, n - 9);
	memcpy(text + n - 2, "\"}", 3);
	assert_request_round_trips(text);
	memcpy(text, "{\"x\": {\"a\": \"", 13); /* also as a parsed object */
	assert_request_round_trips(text);
	p += sprintf(p, "{\"x\": ");
	for (size_t i = 0; i < depth - 1; i++)
		*p++ = '[';
	for (size_t i = 0; i < depth - 1; i++)
		*p++ = ']';
	strcpy(p, "}");
	assert_request_round_trips(deep);
	free(text);
	free(deep);
}

/* Numbers out of any field's range load clamped: converting them as they
 * are is undefined (found by fuzz_record). */
static void test_huge_numbers_load_clamped(void **state)
{
	struct job j;
	char err[128];

	(void)state;
	assert_int_equal(job_from_json("{\"job_id\": \"7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f\", "
				       "\"session_id\": \"s1\", \"state\": \"complete\", "
				       "\"updated_at\": \"2026-11-28T03:00:00Z\", \"progress\": -1e300, "
				       "\"attempts\": 1e300, \"owner_uid\": 1e300, \"result\": "
				       "{\"sample_rate\": 1e300, \"channels\": -1e300}}",
				       &j, err, sizeof(err)), 0);
	assert_int_equal(j.progress, 0);
	assert_int_equal(j.attempts, 1000000);
	assert_true(j.owner_uid == 4294967295L);
	assert_int_equal(j.result.sample_rate, 10000000);
	assert_int_equal(j.result.channels, 0);
	job_clear(&j);
}

/* What the older Python manager wrote: the four required fields only. */
static void test_minimal_record_loads(void **state)
{
	struct job j;
	char err[128];

	(void)state;
	assert_int_equal(job_from_json("{\"job_id\": \"7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f\","
				       " \"session_id\": \"s1\", \"state\": \"complete\","
				       " \"updated_at\": \"2026-11-28T03:00:00+00:00\"}",
				       &j, err, sizeof(err)), 0);
	assert_int_equal(j.state, JOB_COMPLETE);
	assert_int_equal(j.progress, 0);
	assert_int_equal(j.owner_uid, -1);
	assert_null(j.request_text);
	assert_int_equal(j.finished_at, j.updated_at);
	job_clear(&j);
}

static void test_bad_records_name_the_key(void **state)
{
	struct job j;
	char err[128];

	(void)state;
	assert_int_equal(job_from_json("{\"job_id\": \"7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f\","
				       " \"session_id\": \"s1\", \"state\": \"complete\"}",
				       &j, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "updated_at"));
	assert_int_equal(job_from_json("{\"job_id\": \"x\", \"session_id\": \"s1\","
				       " \"state\": \"complete\", \"updated_at\": \"2026-11-28T03:00:00Z\"}",
				       &j, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "job_id"));
	assert_int_equal(job_from_json("{\"job_id\": \"7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f\","
				       " \"session_id\": \"s1\", \"state\": \"done\","
				       " \"updated_at\": \"2026-11-28T03:00:00Z\"}",
				       &j, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "state"));
	assert_int_equal(job_from_json("{\"job_id\": \"7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f\"",
				       &j, err, sizeof(err)), -EINVAL);
}

/* SPEC 9: the host of the latest attempt; absent on one host */
static void test_host_round_trip(void **state)
{
	const char *base = "{\"job_id\": \"7f3c8d2e-1b4a-4c5d-9e6f-0a1b2c3d4e5f\","
			   " \"session_id\": \"s1\", \"state\": \"queued\","
			   " \"updated_at\": \"2026-11-28T03:00:00Z\"";
	char text[512], err[128], *json;
	struct job j, back;

	(void)state;
	snprintf(text, sizeof(text), "%s, \"host\": \"render-2.a\"}", base);
	assert_int_equal(job_from_json(text, &j, err, sizeof(err)), 0);
	assert_string_equal(j.host, "render-2.a");
	json = job_to_json(&j);
	assert_non_null(strstr(json, "\"host\""));
	assert_int_equal(job_from_json(json, &back, err, sizeof(err)), 0);
	assert_string_equal(back.host, "render-2.a");
	free(json);
	job_clear(&back);
	j.host[0] = '\0';
	json = job_to_json(&j);
	assert_null(strstr(json, "\"host\"")); /* one host's records are as before */
	free(json);
	job_clear(&j);
	snprintf(text, sizeof(text), "%s, \"host\": null}", base);
	assert_int_equal(job_from_json(text, &j, err, sizeof(err)), 0);
	assert_string_equal(j.host, "");
	job_clear(&j);
	snprintf(text, sizeof(text), "%s, \"host\": \"../x\"}", base);
	assert_int_equal(job_from_json(text, &j, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "host"));
	assert_true(job_host_valid("a"));
	assert_false(job_host_valid(""));
	assert_false(job_host_valid(".hidden"));
	assert_false(job_host_valid("a b"));
	assert_false(job_host_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

/* SPEC 7a: the result's loudness range and the limiter's deepest
 * reduction survive the record */
static void test_result_round_trip(void **state)
{
	struct job j, back;
	char err[128], *json;

	(void)state;
	job_init_new(&j, "s1", 1000, 0);
	j.result.present = true;
	j.result.integrated_lufs = -14;
	j.result.loudness_range_lu = 7.5;
	j.result.max_gain_reduction_db = 3.25;
	j.result.target_missed_lu = 1.5;
	j.result.n_offsets = 2;
	j.result.offsets_ms[1] = 8000.5;
	json = job_to_json(&j);
	assert_non_null(strstr(json, "\"loudness_range_lu\""));
	assert_int_equal(job_from_json(json, &back, err, sizeof(err)), 0);
	assert_true(back.result.loudness_range_lu == 7.5);
	assert_true(back.result.max_gain_reduction_db == 3.25);
	assert_true(back.result.target_missed_lu == 1.5);
	assert_int_equal(back.result.n_offsets, 2);
	assert_true(back.result.offsets_ms[1] == 8000.5);
	free(json);
	job_clear(&back);
	job_clear(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names_round_trip),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_set_state_stamps_times),
		cmocka_unit_test(test_iso_parse_and_format),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_worst_requests_round_trip),
		cmocka_unit_test(test_huge_numbers_load_clamped),
		cmocka_unit_test(test_minimal_record_loads),
		cmocka_unit_test(test_bad_records_name_the_key),
		cmocka_unit_test(test_host_round_trip),
		cmocka_unit_test(test_result_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
