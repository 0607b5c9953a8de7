/*
 * align.c - refine a stem's offset against a reference by GCC-PHAT.
 *
 * Different instruments do not correlate with each other, so a stem is
 * matched against a reference that holds it in place (a rough mix, or a
 * close mic of the same take). The search is only +-window around the
 * given offset: a blind search over a whole song locks onto the wrong bar
 * of repetitive music. PHAT weighting whitens the spectrum so the peak is
 * sharp; the refinement is kept only when that peak stands clearly above
 * the runner-up.
 */
#include <errno.h>
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_impl.h"

#define ALIGN_SEG_LOG2 19	/* 2^19 frames: 10.9 s at 48 kHz */
#define ALIGN_SCAN_S 30		/* look for the loudest segment in this much */
#define ALIGN_MIN_RATIO 1.5	/* best peak over runner-up to trust a match */
#define ALIGN_BAND_FLOOR 1e-5f	/* bins 50 dB under the stem's loudest are ignored */

/* FFTW's planner is not thread-safe; workers may align at the same time. */
static pthread_mutex_t align_plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* Read frames [from, to) of @s as mono into @dst (to - from floats);
 * frames before 0 or past the end are silence. */
static int read_mono(struct stem *s, int64_t from, int64_t to, float *dst, char *err)
{
	float buf[AUDIO_BLOCK * 2];
	int64_t pos = 0;
	int ch = s->info.channels;
	int rc = stem_start(s, s->out_rate, err);

	memset(dst, 0, sizeof(float) * (size_t)(to - from));
	while (!rc && pos < to) {
		long n = stem_read(s, buf, AUDIO_BLOCK, err);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		for (long i = 0; i < n; i++, pos++) {
			if (pos < from || pos >= to)
				continue;
			dst[pos - from] = ch == 2 ? 0.5f * (buf[2 * i] + buf[2 * i + 1]) : buf[i];
		}
	}
	return rc;
}

/* The start of the loudest @len-frame stretch of @x (hop len/4). */
static int64_t loudest_segment(const float *x, int64_t n, int64_t len)
{
	int64_t best = 0;
	double best_e = -1;

	for (int64_t start = 0; start + len <= n; start += len / 4) {
		double e = 0;

		for (int64_t i = start; i < start + len; i++)
			e += (double)x[i] * x[i];
		if (e > best_e) {
			best_e = e;
			best = start;
		}
	}
	return best;
}

/* Tukey window: cosine tapers over the first and last 10%. */
static void taper(float *x, int64_t n)
{
	int64_t edge = n / 10;

	for (int64_t i = 0; i < edge; i++) {
		float w = 0.5f - 0.5f * cosf((float)M_PI * (float)i / (float)edge);

		x[i] *= w;
		x[n - 1 - i] *= w;
	}
}

struct xcorr {
	int64_t fft_len;
	float *a, *b;
	fftwf_complex *fa, *fb;
};

/* PHAT-weighted cross-correlation of @ref against @seg, into xc->a:
 * a[l] = sum_n ref[n + l] * seg[n], whitened. */
static int gcc_phat(struct xcorr *xc)
{
	int64_t bins = xc->fft_len / 2 + 1;
	fftwf_plan pa, pb, pi;

	pthread_mutex_lock(&align_plan_lock);
	pa = fftwf_plan_dft_r2c_1d((int)xc->fft_len, xc->a, xc->fa, FFTW_ESTIMATE);
	pb = fftwf_plan_dft_r2c_1d((int)xc->fft_len, xc->b, xc->fb, FFTW_ESTIMATE);
	pi = fftwf_plan_dft_c2r_1d((int)xc->fft_len, xc->fa, xc->a, FFTW_ESTIMATE);
	pthread_mutex_unlock(&align_plan_lock);
	if (!pa || !pb || !pi)
		return -ENOMEM;
	fftwf_execute(pa);
	fftwf_execute(pb);
	float smax = 0;

	for (int64_t k = 0; k < bins; k++)
		smax = fmaxf(smax, xc->fa[k][0] * xc->fa[k][0] + xc->fa[k][1] * xc->fa[k][1]);
	for (int64_t k = 0; k < bins; k++) {
		/* ref * conj(seg), keeping only the phase, and only where the stem
		 * has energy: whitening bins it does not play adds pure noise */
		float sp = xc->fa[k][0] * xc->fa[k][0] + xc->fa[k][1] * xc->fa[k][1];
		float re = xc->fb[k][0] * xc->fa[k][0] + xc->fb[k][1] * xc->fa[k][1];
		float im = xc->fb[k][1] * xc->fa[k][0] - xc->fb[k][0] * xc->fa[k][1];
		float mag = sqrtf(re * re + im * im) + 1e-20f;
		float w = sp > smax * ALIGN_BAND_FLOOR ? 1.0f / mag : 0.0f;

		xc->fa[k][0] = re * w;
		xc->fa[k][1] = im * w;
	}
	fftwf_execute(pi);
	pthread_mutex_lock(&align_plan_lock);
	fftwf_destroy_plan(pa);
	fftwf_destroy_plan(pb);
	fftwf_destroy_plan(pi);
	pthread_mutex_unlock(&align_plan_lock);
	return 0;
}

/* Best and runner-up peaks among lags [lo, hi]; the runner-up is the best
 * value at least @guard lags away from the best. */
static void pick_peaks(const float *c, int64_t lo, int64_t hi, int64_t guard,
		       int64_t *best, double *best_v, double *second_v)
{
	*best = lo;
	*best_v = -1e30;
	*second_v = 0;
	for (int64_t l = lo; l <= hi; l++)
		if (c[l] > *best_v) {
			*best_v = c[l];
			*best = l;
		}
	for (int64_t l = lo; l <= hi; l++)
		if (llabs(l - *best) > guard && c[l] > *second_v)
			*second_v = c[l];
}

static void xcorr_free(struct xcorr *xc)
{
	fftwf_free(xc->a);
	fftwf_free(xc->b);
	fftwf_free(xc->fa);
	fftwf_free(xc->fb);
}

int align_refine(struct stem *stem, struct stem *reference, int64_t given,
		 int64_t window, struct align_result *out, char *err)
{
	int64_t scan = stem->out_frames, seg = (int64_t)1 << ALIGN_SEG_LOG2, k0, best;
	int64_t ref_from, ref_len, lo;
	struct xcorr xc = { 0 };
	double best_v, second_v;
	float *whole = NULL;
	int rc;

	out->offset = given;
	out->refined = false;
	out->confidence = 0;
	if (scan > (int64_t)ALIGN_SCAN_S * stem->out_rate)
		scan = (int64_t)ALIGN_SCAN_S * stem->out_rate;
	while (seg > scan && seg > 1024)
		seg /= 2;
	if (scan < 1024)
		return 0; /* too short to say anything */
	ref_len = seg + 2 * window;
	xc.fft_len = 1;
	while (xc.fft_len < seg + ref_len)
		xc.fft_len *= 2;
	whole = malloc(sizeof(float) * (size_t)scan);
	xc.a = fftwf_alloc_real((size_t)xc.fft_len);
	xc.b = fftwf_alloc_real((size_t)xc.fft_len);
	xc.fa = fftwf_alloc_complex((size_t)xc.fft_len / 2 + 1);
	xc.fb = fftwf_alloc_complex((size_t)xc.fft_len / 2 + 1);
	rc = (!whole || !xc.a || !xc.b || !xc.fa || !xc.fb) ? -ENOMEM : 0;
	if (!rc)
		rc = read_mono(stem, 0, scan, whole, err);
	if (rc)
		goto out;
	k0 = loudest_segment(whole, scan, seg);
	memset(xc.a, 0, sizeof(float) * (size_t)xc.fft_len);
	memset(xc.b, 0, sizeof(float) * (size_t)xc.fft_len);
	memcpy(xc.a, whole + k0, sizeof(float) * (size_t)seg);
	taper(xc.a, seg);
	ref_from = given + k0 - window;
	if ((rc = read_mono(reference, ref_from, ref_from + ref_len, xc.b, err)))
		goto out;
	taper(xc.b, ref_len);
	if ((rc = gcc_phat(&xc)))
		goto out;
	/* lag l puts the stem at given - window + l; never before 0 */
	lo = given - window < 0 ? window - given : 0;
	pick_peaks(xc.a, lo, 2 * window, stem->out_rate / 1000 + 1, &best, &best_v, &second_v);
	out->confidence = second_v > 0 ? best_v / second_v : INFINITY;
	if (best_v > 0 && out->confidence >= ALIGN_MIN_RATIO) {
		out->offset = given - window + best;
		out->refined = true;
	}
out:
	free(whole);
	xcorr_free(&xc);
	return rc;
}
