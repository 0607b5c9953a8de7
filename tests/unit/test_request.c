/* test_request.c - strict request validation: every error names its key. */
#include "testutil.h"

#include <errno.h>

#include "mixfs/request.h"

static char err[REQUEST_ERR_MAX];

static int parse(const char *text, struct plan *p)
{
	return request_parse(text, strlen(text), p, err, sizeof(err));
}

/* The request must fail and its message must contain @needle. */
static void expect_error(const char *text, const char *needle)
{
	struct plan p;

	assert_int_equal(parse(text, &p), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("request %s: error \"%s\" does not name \"%s\"", text, err, needle);
	assert_null(p.stems);
}

static void test_empty_object_is_the_default(void **state)
{
	struct plan p;

	(void)state;
	assert_int_equal(parse("{}", &p), 0);
	assert_true(p.all_stems);
	assert_true(p.master);
	assert_true(p.target_lufs == -14.0);
	assert_true(p.true_peak_dbtp == -1.0);
	assert_int_equal(p.format, PLAN_FMT_WAV);
	assert_int_equal(p.bit_depth, 24);
	assert_int_equal(p.sample_rate, 0);
	plan_clear(&p);
}

static void test_full_request(void **state)
{
	struct plan p;

	(void)state;
	assert_int_equal(parse("{\"stems\": [{\"file\": \"drums.wav\", \"gain_db\": -2.0,"
			       " \"pan\": 0.5, \"offset_ms\": 120, \"mute\": false, \"solo\": true},"
			       " {\"file\": \"bass.wav\"}],"
			       " \"align\": \"auto\", \"reference\": \"rough.wav\","
			       " \"align_window_ms\": 250, \"sample_rate\": 44100,"
			       " \"master\": {\"target_lufs\": -16, \"true_peak_dbtp\": -2},"
			       " \"output\": {\"format\": \"flac\", \"bit_depth\": 16}}", &p), 0);
	assert_int_equal(p.n_stems, 2);
	assert_false(p.all_stems);
	assert_string_equal(p.stems[0].file, "drums.wav");
	assert_true(p.stems[0].gain_db == -2.0 && p.stems[0].pan == 0.5);
	assert_true(p.stems[0].offset_ms == 120 && p.stems[0].solo && !p.stems[0].mute);
	assert_true(p.stems[1].gain_db == 0 && p.stems[1].pan == 0);
	assert_int_equal(p.align, PLAN_ALIGN_AUTO);
	assert_string_equal(p.reference, "rough.wav");
	assert_true(p.align_window_ms == 250);
	assert_int_equal(p.sample_rate, 44100);
	assert_true(p.target_lufs == -16 && p.true_peak_dbtp == -2);
	assert_int_equal(p.format, PLAN_FMT_FLAC);
	assert_int_equal(p.bit_depth, 16);
	plan_clear(&p);
}

static void test_master_null_turns_mastering_off(void **state)
{
	struct plan p;

	(void)state;
	assert_int_equal(parse("{\"master\": null}", &p), 0);
	assert_false(p.master);
	plan_clear(&p);
}

static void test_errors_name_their_key(void **state)
{
	(void)state;
	expect_error("{\"stem\": []}", "\"stem\"");
	expect_error("{\"stems\": {}}", "\"stems\"");
	expect_error("{\"stems\": []}", "\"stems\"");
	expect_error("{\"stems\": [{\"gain_db\": 1}]}", "stems[0].file");
	expect_error("{\"stems\": [{\"file\": \"a.wav\", \"gain\": 1}]}", "stems[0].gain");
	expect_error("{\"stems\": [{\"file\": \"a.wav\"}, {\"file\": \"b.wav\", \"gain_db\": 30}]}",
		     "stems[1].gain_db");
	expect_error("{\"stems\": [{\"file\": \"a.wav\", \"gain_db\": \"loud\"}]}", "stems[0].gain_db");
	expect_error("{\"stems\": [{\"file\": \"a.wav\", \"pan\": -1.5}]}", "stems[0].pan");
	expect_error("{\"stems\": [{\"file\": \"a.wav\", \"offset_ms\": -1}]}", "stems[0].offset_ms");
	expect_error("{\"stems\": [{\"file\": \"a.wav\", \"mute\": 1}]}", "stems[0].mute");
	expect_error("{\"stems\": [{\"file\": \"a.wav\"}, {\"file\": \"a.wav\"}]}", "stems[1].file");
	expect_error("{\"align\": \"magic\"}", "\"align\"");
	expect_error("{\"align\": \"auto\"}", "\"reference\"");
	expect_error("{\"sample_rate\": 1000}", "\"sample_rate\"");
	expect_error("{\"sample_rate\": 44100.5}", "\"sample_rate\"");
	expect_error("{\"master\": {\"target_lufs\": -3}}", "master.target_lufs");
	expect_error("{\"master\": {\"true_peak_dbtp\": 1}}", "master.true_peak_dbtp");
	expect_error("{\"master\": {\"limit\": 1}}", "master.limit");
	expect_error("{\"master\": 5}", "\"master\"");
	expect_error("{\"output\": {\"format\": \"mp3\"}}", "output.format");
	expect_error("{\"output\": {\"bit_depth\": 20}}", "output.bit_depth");
	expect_error("{\"output\": {\"format\": \"flac\", \"bit_depth\": 32}}", "output.bit_depth");
	expect_error("{\"master\": null, \"master\": null}", "given twice");
}

/* Limits a request meets at close(), not when it runs. */
static void test_limits_are_checked_up_front(void **state)
{
	char many[4096], *p = many, deep[256], *huge;

	(void)state;
	p += sprintf(p, "{\"stems\": [");
	for (int i = 0; i < PLAN_MAX_STEMS + 1; i++)
		p += sprintf(p, "%s{\"file\": \"s%d.wav\"}", i ? ", " : "", i);
	sprintf(p, "]}");
	expect_error(many, "at most 64");
	huge = malloc(10000 * 24 + 16);
	p = huge + sprintf(huge, "{\"stems\": [");
	for (int i = 0; i < 10000; i++)
		p += sprintf(p, "%s{\"file\": \"s%d.wav\"}", i ? ", " : "", i);
	sprintf(p, "]}");
	expect_error(huge, "lists 10000 stems");
	free(huge);
	p = deep;
	p += sprintf(p, "{\"x\":\n");
	for (int i = 0; i < 40; i++)
		*p++ = '[';
	for (int i = 0; i < 40; i++)
		*p++ = ']';
	sprintf(p, "}");
	expect_error(deep, "line 2: nested deeper than 16 levels");
	expect_error("{\"x\": \"[[[[[[[[[[[[[[[[[[[[\"}", "key \"x\"");
}

static void test_syntax_error_names_the_line(void **state)
{
	(void)state;
	expect_error("{\n  \"stems\": [\n    {\"file\": \"a.wav\",}\n  ]\n}", "line 3");
	expect_error("[1, 2]", "JSON object");
	expect_error("", "line 1");
	expect_error("{}\n{}", "line 2");
	expect_error("{\"master\": null} trailing", "line 1");
}

static void test_key_errors_name_the_line(void **state)
{
	(void)state;
	expect_error("{\n  \"stems\": [\n    {\"file\": \"a.wav\"},\n    {\"file\": \"b.wav\",\n     \"gain_db\": 99}\n  ]\n}",
		     "line 5: key \"stems[1].gain_db\"");
	expect_error("{\"master\": {\"target_lufs\": -14},\n \"outputs\": {}}", "line 2: key \"outputs\"");
	expect_error("{\"stems\": [{\"file\": \"x\\\"y.wav\", \"pan\": 3}]}", "line 1: key \"stems[0].pan\"");
	/* a missing key: the line of the object that lacks it */
	expect_error("{\"stems\": [\n{\"file\": \"a.wav\"},\n\n{\"gain_db\": 1}]}", "line 4: key \"stems[1].file\"");
}

static void test_path_escapes_are_refused(void **state)
{
	(void)state;
	expect_error("{\"stems\": [{\"file\": \"../other/stems/a.wav\"}]}", "stems[0].file");
	expect_error("{\"stems\": [{\"file\": \"/etc/passwd\"}]}", "stems[0].file");
	expect_error("{\"stems\": [{\"file\": \"sub/a.wav\"}]}", "stems[0].file");
	expect_error("{\"stems\": [{\"file\": \"..\"}]}", "stems[0].file");
	expect_error("{\"stems\": [{\"file\": \"\"}]}", "stems[0].file");
	expect_error("{\"align\": \"auto\", \"reference\": \"../mix.wav\"}", "reference");
}

static void test_draft_names(void **state)
{
	(void)state;
	assert_true(request_name_is_draft(".take.json.swp"));
	assert_true(request_name_is_draft("take.json~"));
	assert_true(request_name_is_draft("take.tmp"));
	assert_true(request_name_is_draft("take.part"));
	assert_true(request_name_is_draft("take.swp"));
	assert_false(request_name_is_draft("take.json"));
	assert_false(request_name_is_draft("4913"));
}

/* SPEC 7a: a stem's processing reaches the plan as given */
static void test_track_processing(void **state)
{
	struct plan p;

	(void)state;
	assert_int_equal(parse("{\"stems\": [{\"file\": \"v.wav\", \"invert\": true,"
			       " \"highpass_hz\": 80, \"fade_in_ms\": 50, \"fade_out_ms\": 2000,"
			       " \"eq\": [{\"type\": \"peak\", \"freq_hz\": 3000, \"gain_db\": 2.5, \"q\": 1.2},"
			       " {\"type\": \"lowshelf\", \"freq_hz\": 120, \"gain_db\": -3},"
			       " {\"type\": \"highshelf\", \"freq_hz\": 8000, \"gain_db\": 1.5},"
			       " {\"type\": \"lowpass\", \"freq_hz\": 16000}]}]}", &p), 0);
	assert_true(p.stems[0].invert);
	assert_true(p.stems[0].highpass_hz == 80);
	assert_true(p.stems[0].fade_in_ms == 50 && p.stems[0].fade_out_ms == 2000);
	assert_int_equal(p.stems[0].n_eq, 4);
	assert_int_equal(p.stems[0].eq[0].type, PLAN_EQ_PEAK);
	assert_true(p.stems[0].eq[0].q == 1.2 && p.stems[0].eq[0].gain_db == 2.5);
	assert_int_equal(p.stems[0].eq[1].type, PLAN_EQ_LOWSHELF);
	assert_int_equal(p.stems[0].eq[2].type, PLAN_EQ_HIGHSHELF);
	assert_int_equal(p.stems[0].eq[3].type, PLAN_EQ_LOWPASS);
	assert_true(p.stems[0].eq[3].q == 0); /* the default, 1/sqrt(2), is the engine's */
	plan_clear(&p);
	assert_int_equal(parse("{\"stems\": [{\"file\": \"v.wav\", \"highpass_hz\": null}]}", &p), 0);
	assert_true(p.stems[0].highpass_hz == 0 && p.stems[0].n_eq == 0 && !p.stems[0].invert);
	plan_clear(&p);
	assert_int_equal(parse("{\"stems\": [{\"file\": \"v.wav\", \"eq\": {}}]}", &p), -EINVAL);
	assert_int_equal(parse("{\"stems\": [{\"file\": \"v.wav\", \"fade_in_ms\": -1}]}", &p), -EINVAL);
	assert_int_equal(parse("{\"stems\": [{\"file\": \"v.wav\", \"eq\": [{\"type\": \"peak\","
			       " \"freq_hz\": 9, \"gain_db\": 1}]}]}", &p), -EINVAL);
	assert_int_equal(parse("{\"stems\": [{\"file\": \"v.wav\", \"eq\": [{\"type\": \"peak\","
			       " \"freq_hz\": 1000, \"gain_db\": 25}]}]}", &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_object_is_the_default),
		cmocka_unit_test(test_full_request),
		cmocka_unit_test(test_master_null_turns_mastering_off),
		cmocka_unit_test(test_errors_name_their_key),
		cmocka_unit_test(test_limits_are_checked_up_front),
		cmocka_unit_test(test_syntax_error_names_the_line),
		cmocka_unit_test(test_key_errors_name_the_line),
		cmocka_unit_test(test_path_escapes_are_refused),
		cmocka_unit_test(test_draft_names),
		cmocka_unit_test(test_track_processing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
