/* test_limiter.c - the 4x true-peak detector against a known intersample
 * peak, and the look-ahead limiter's guarantee: no output sample over the
 * ceiling, whatever goes in, from the very first frame (it failed there:
 * the first look-ahead's worth of frames left at unity gain). */
#include "audiofx.h"

/* A sine at a quarter of the rate, 45 degrees off its samples: every
 * sample is 0.7071 while the waveform between them reaches 1.0 (3 dB over
 * the sample peak), the classic intersample peak. */
static void test_true_peak_of_a_known_intersample_peak(void **state)
{
	struct tp_detector *d = tp_new();
	float peak = 0;

	(void)state;
	assert_non_null(d);
	for (int i = 0; i < 48000; i++) {
		float x = (float)sin(M_PI / 2 * i + M_PI / 4);
		float p = tp_push(d, x, x);

		if (i > 1000 && p > peak)
			peak = p;
	}
	tp_free(d);
	/* 4x oversampling reads within a few hundredths of a dB here */
	assert_true(fabs(20 * log10(peak)) < 0.1);
}

/* The block detector is the per-frame one, vectorized: the same peaks to
 * the bit, whatever the block sizes, the history carried between blocks. */
static void test_tp_run_gives_what_tp_push_gives(void **state)
{
	static float x[2 * 20000], block[20000];
	static const long sizes[] = { 1, 7, 8, 1000, 4096, 3, 1025, 2048, 15, 9 };
	struct tp_detector *one = tp_new(), *many = tp_new();
	long at = 0;

	(void)state;
	assert_non_null(one);
	assert_non_null(many);
	afx_noise(x, 2 * 20000, 1.5f, 11);
	for (int s = 0; at < 20000; s = (s + 1) % 10) {
		long n = sizes[s] < 20000 - at ? sizes[s] : 20000 - at;

		tp_run(many, x + 2 * at, n, block);
		for (long k = 0; k < n; k++) {
			float p = tp_push(one, x[2 * (at + k)], x[2 * (at + k) + 1]);

			assert_memory_equal(&p, &block[k], sizeof(p));
		}
		at += n;
	}
	tp_free(one);
	tp_free(many);
}

static void test_limiter_never_passes_the_ceiling(void **state)
{
	enum { N = 96000 };
	const float ceiling = 0.5f;
	struct limiter *lim = limiter_new(48000, 2.0, 80.0);
	struct tp_detector *d = tp_new();
	static float x[2 * N], y[2 * N], peak[N + 64], flush[2 * 64];
	float over = 0;
	long out = 0, L;

	(void)state;
	assert_non_null(lim);
	assert_non_null(d);
	L = limiter_lookahead(lim);
	afx_noise(x, 2 * N, 4.0f, 7); /* 18 dB over the ceiling, and bursts */
	for (long i = 0; i < N; i += 4800)
		for (long k = 0; k < 200 && i + k < N; k++)
			x[2 * (i + k)] *= 0.01f;
	/* the detector's peak of frame n comes tp_delay() frames later */
	tp_run(d, x, N, peak);
	tp_run(d, flush, tp_delay(), peak + N);
	memmove(peak, peak + tp_delay(), sizeof(float) * N);
	/* through the limiter in uneven blocks, as the engine feeds it, then
	 * the look-ahead's worth of silence that lets the last frames out */
	for (long at = 0, step = 1; at < N; at += step, step = step * 5 % 3001 + 1) {
		long n = step < N - at ? step : N - at;

		out += limiter_run(lim, x + 2 * at, peak + at, n, n, 1.0f, ceiling, y + 2 * out);
	}
	out += limiter_run(lim, NULL, NULL, 0, L, 1.0f, ceiling, y + 2 * out);
	assert_int_equal(out, N);
	for (long i = 0; i < 2 * N; i++)
		over = fmaxf(over, fabsf(y[i]));
	assert_true(over <= ceiling * (1 + 1e-6f));
	assert_true(over > ceiling * 0.75f); /* it limits, it does not mute */
	assert_true(limiter_min_gain(lim) < 0.2f);
	limiter_free(lim);
	tp_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_true_peak_of_a_known_intersample_peak),
		cmocka_unit_test(test_tp_run_gives_what_tp_push_gives),
		cmocka_unit_test(test_limiter_never_passes_the_ceiling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
