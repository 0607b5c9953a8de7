/* test_meter.c - the K-weighted power sums that mastering predicts with:
 * the filter is BS.1770's, and the gated loudness from the sums is the one
 * libebur128 measures on the same audio, at several rates. */
#include <ebur128.h>

#include "audiofx.h"

/* At 48 kHz the derivation gives the coefficients BS.1770 publishes. */
static void test_kweight_at_48k_is_the_standards_filter(void **state)
{
	struct kweight k;

	(void)state;
	kweight_init(&k, 48000);
	assert_true(fabs(k.b[0][0] - 1.53512485958697) < 1e-9);
	assert_true(fabs(k.b[0][1] - -2.69169618940638) < 1e-9);
	assert_true(fabs(k.b[0][2] - 1.19839281085285) < 1e-9);
	assert_true(fabs(k.a[0][0] - -1.69065929318241) < 1e-9);
	assert_true(fabs(k.a[0][1] - 0.73248077421585) < 1e-9);
	assert_true(fabs(k.a[1][0] - -1.99004745483398) < 1e-9);
	assert_true(fabs(k.a[1][1] - 0.99007225036621) < 1e-9);
}

/* 40 s of noise and tones whose level steps between loud, quiet (caught by
 * the relative gate) and near-silent (the absolute gate), in odd block
 * sizes; our loudness against libebur128's. */
static void check_rate(int rate)
{
	long n = 40L * rate;
	float *x = malloc(sizeof(float) * 2 * (size_t)n), *power = malloc(sizeof(float) * 4096);
	ebur128_state *ref = ebur128_init(2, (unsigned long)rate, EBUR128_MODE_I | EBUR128_MODE_LRA);
	struct kweight k;
	struct lsums sums;
	double ours, theirs, our_lra, their_lra;

	assert_non_null(x);
	assert_non_null(power);
	assert_non_null(ref);
	afx_noise(x, 2 * n, 0.3f, (uint32_t)rate);
	for (long i = 0; i < n; i++) {
		static const float level[] = { 1, 0.05f, 0.5f, 0.0001f, 1.5f, 0.2f, 0.00001f, 0.8f };
		float g = level[(i / (rate * 5 / 2)) % 8];
		float tone = 0.2f * (float)sin(2 * M_PI * 100.0 * (double)i / rate);

		x[2 * i] = (x[2 * i] + tone) * g;
		x[2 * i + 1] *= g * 0.7f;
	}
	kweight_init(&k, rate);
	assert_int_equal(lsums_init(&sums, rate, n), 0);
	for (long at = 0, step = 1; at < n; at += step, step = step * 7 % 4093 + 1) {
		long m = step < n - at ? step : n - at;

		kweight_run(&k, x + 2 * at, m, at % 2 ? power : NULL, &sums);
	}
	assert_int_equal(ebur128_add_frames_float(ref, x, (size_t)n), 0);
	assert_int_equal(ebur128_loudness_global(ref, &theirs), 0);
	assert_int_equal(ebur128_loudness_range(ref, &their_lra), 0);
	ours = lsums_integrated(&sums);
	assert_int_equal(lsums_range(&sums, &our_lra), 0);
	print_message("%d Hz: %.5f LUFS, LRA %.4f LU; libebur128 %.5f LUFS, LRA %.4f LU\n", rate, ours,
		      our_lra, theirs, their_lra);
	assert_true(fabs(ours - theirs) < 0.001);
	assert_true(our_lra > 3); /* the steps are there to measure */
	assert_true(fabs(our_lra - their_lra) < 0.01);
	lsums_free(&sums);
	ebur128_destroy(&ref);
	free(x);
	free(power);
}

static void test_loudness_from_sums_is_libebur128s(void **state)
{
	(void)state;
	check_rate(48000);
	check_rate(44100);
	check_rate(96000);
	check_rate(22050);
}

static void test_silence_has_no_loudness(void **state)
{
	static const float zero[2 * 48000];
	struct lsums sums;
	struct kweight k;

	(void)state;
	kweight_init(&k, 48000);
	assert_int_equal(lsums_init(&sums, 48000, 48000), 0);
	kweight_run(&k, zero, 48000, NULL, &sums);
	assert_int_equal(sums.n, 10);
	assert_true(isinf(lsums_integrated(&sums)) && lsums_integrated(&sums) < 0);
	lsums_free(&sums);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kweight_at_48k_is_the_standards_filter),
		cmocka_unit_test(test_loudness_from_sums_is_libebur128s),
		cmocka_unit_test(test_silence_has_no_loudness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
