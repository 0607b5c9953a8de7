/*
 * test_audio.c - the engine's modules one by one: a stem's exact length
 * when resampled and its refusals (stem.c), GCC-PHAT finding a known delay
 * (align.c), TPDF dither statistics and clipping at 16 bits (export.c),
 * the second thread of a pass (stage.c).
 */
#include "audiofx.h"

#include <errno.h>

struct afx {
	char *dir;
	int fd;
};

static int setup(void **state)
{
	struct afx *a = calloc(1, sizeof(*a));

	a->dir = tu_tmpdir();
	a->fd = open(a->dir, O_RDONLY | O_DIRECTORY);
	*state = a;
	return 0;
}

static int teardown(void **state)
{
	struct afx *a = *state;

	close(a->fd);
	tu_rm_rf(a->dir);
	free(a->dir);
	free(a);
	return 0;
}

/* 44.1 kHz resampled to 48 kHz: exactly round(n * 48000 / 44100) frames. */
static void test_stem_exact_length_and_refusals(void **state)
{
	struct afx *a = *state;
	float *x = calloc(44100 + 77, sizeof(float)), buf[AUDIO_BLOCK];
	char err[AUDIO_ERR_MAX], path[4096];
	struct stem s;
	int64_t got = 0;
	long n;

	afx_noise(x, 44100 + 77, 0.5f, 3);
	afx_write(a->dir, "a.wav", 44100, 1, x, 44100 + 77, 0);
	assert_int_equal(stem_open(&s, a->fd, "a.wav", err), 0);
	assert_int_equal(stem_start(&s, 48000, err), 0);
	assert_true(s.out_frames == llround((44100.0 + 77) * 48000 / 44100));
	while ((n = stem_read(&s, buf, AUDIO_BLOCK, err)) > 0)
		got += n;
	assert_int_equal(n, 0);
	assert_true(got == s.out_frames);
	stem_close(&s);
	afx_write(a->dir, "low.wav", 4000, 1, x, 4000, 0);
	assert_int_equal(stem_open(&s, a->fd, "low.wav", err), -EINVAL);
	assert_non_null(strstr(err, "stems/low.wav: sample rate 4000 Hz"));
	snprintf(path, sizeof(path), "%s/link.wav", a->dir);
	assert_int_equal(symlink("a.wav", path), 0);
	assert_int_equal(stem_open(&s, a->fd, "link.wav", err), -EINVAL);
	assert_non_null(strstr(err, "stems/link.wav: a symlink"));
	assert_int_equal(stem_open(&s, a->fd, "none.wav", err), -EINVAL);
	assert_non_null(strstr(err, "no such stem"));
	free(x);
}

/* The reference holds the stem 1234 samples in: GCC-PHAT finds it from a
 * given offset 300 samples off. */
static void test_gcc_phat_finds_a_known_delay(void **state)
{
	struct afx *a = *state;
	const long n = 48000 * 4, delay = 1234;
	float *stem = calloc((size_t)n, sizeof(float)), *ref = calloc((size_t)(n + delay), sizeof(float));
	char err[AUDIO_ERR_MAX];
	struct stem s, r;
	struct align_result res;

	afx_noise(stem, n, 0.3f, 11);
	afx_noise(ref, n + delay, 0.02f, 12); /* other instruments, quietly */
	for (long i = 0; i < n; i++)
		ref[i + delay] += stem[i];
	afx_write(a->dir, "stem.wav", 48000, 1, stem, n, 0);
	afx_write(a->dir, "ref.wav", 48000, 1, ref, n + delay, 0);
	assert_int_equal(stem_open(&s, a->fd, "stem.wav", err), 0);
	assert_int_equal(stem_open(&r, a->fd, "ref.wav", err), 0);
	assert_int_equal(stem_start(&s, 48000, err), 0);
	assert_int_equal(stem_start(&r, 48000, err), 0);
	assert_int_equal(align_refine(&s, &r, delay - 300, 24000, &res, err), 0);
	assert_true(res.refined);
	assert_true(res.offset == delay);
	assert_true(res.confidence >= 1.5);
	stem_close(&s);
	stem_close(&r);
	free(stem);
	free(ref);
}

static void export_frames(struct afx *a, const char *name, int bits, const float *x, long n)
{
	struct plan p;
	struct exporter *e;
	struct mix_target t = { a->fd, name, name };
	char err[AUDIO_ERR_MAX];

	plan_init_default(&p);
	p.bit_depth = bits;
	assert_int_equal(export_open(&e, &t, &p, 48000, n, err), 0);
	assert_int_equal(export_write(e, x, n, err), 0);
	assert_int_equal(export_commit(e, err), 0);
	plan_clear(&p);
}

/* Silence at 16 bits: TPDF dither of +-1 LSB, rounded, gives -1, 0, +1
 * with probabilities 1/8, 3/4, 1/8: mean 0, variance 1/4. Full scale and
 * past it clip to the format's ends, never wrap. */
static void test_dither_statistics_and_clipping(void **state)
{
	struct afx *a = *state;
	const long n = 100000;
	float *x = calloc((size_t)(2 * n), sizeof(float));
	double sum = 0, sq = 0;
	long frames;
	int ch, *v;

	export_frames(a, "dither.wav", 16, x, n);
	v = afx_read_int(a->dir, "dither.wav", &frames, &ch);
	assert_int_equal(frames, n);
	for (long i = 0; i < 2 * n; i++) {
		int q = v[i] >> 16;

		assert_true(q >= -1 && q <= 1);
		sum += q;
		sq += (double)q * q;
	}
	assert_true(fabs(sum / (2 * n)) < 0.01);
	assert_true(fabs(sq / (2 * n) - 0.25) < 0.01);
	free(v);
	x[0] = 2.0f;
	x[1] = -2.0f;
	x[2] = 1.5f;
	export_frames(a, "clip.wav", 24, x, 2);
	v = afx_read_int(a->dir, "clip.wav", &frames, &ch);
	assert_int_equal(v[0] >> 8, 8388607);
	assert_int_equal(v[1] >> 8, -8388608);
	assert_int_equal(v[2] >> 8, 8388607);
	free(v);
	free(x);
}

struct sum_ctx {
	double sum;
	long blocks, fail_at;
};

static int sum_fn(void *ctx, const float *frames, long n)
{
	struct sum_ctx *k = ctx;

	if (++k->blocks == k->fail_at)
		return -EIO;
	for (long i = 0; i < 2 * n; i++)
		k->sum += frames[i];
	return 0;
}

/* The stage thread sees every block, in order, and its first error comes
 * back from stage_finish() while the producer stops getting slots. */
static void test_stage_passes_every_block_and_its_error(void **state)
{
	struct sum_ctx k = { 0, 0, 0 };
	struct stage *st;
	float *slot;
	long sent = 0;

	(void)state;
	assert_int_equal(stage_start(&st, 1024, sum_fn, &k), 0);
	for (int b = 0; b < 100; b++) {
		assert_non_null(slot = stage_slot(st));
		for (long i = 0; i < 2 * 1000; i++)
			slot[i] = 1.0f;
		stage_commit(st, 1000);
		sent += 2 * 1000;
	}
	assert_int_equal(stage_finish(st), 0);
	assert_int_equal(k.blocks, 100);
	assert_true(k.sum == (double)sent);
	k = (struct sum_ctx){ 0, 0, 3 };
	assert_int_equal(stage_start(&st, 1024, sum_fn, &k), 0);
	for (int b = 0; b < 100 && (slot = stage_slot(st)); b++) {
		slot[0] = slot[1] = 0;
		stage_commit(st, 1);
	}
	assert_int_equal(stage_finish(st), -EIO);
	assert_true(k.blocks < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stem_exact_length_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gcc_phat_finds_a_known_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dither_statistics_and_clipping, setup, teardown),
		cmocka_unit_test(test_stage_passes_every_block_and_its_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
