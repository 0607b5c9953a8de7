/*
 * meter.c - BS.1770 loudness kept as sums of K-weighted power over 100 ms.
 *
 * Mastering needs what a loudness meter does not expose: the loudness of
 * the mix at any gain and limiter setting without filtering the mix again.
 * K-weighting is linear, so the mix pass stores each frame's K-weighted
 * power once, and a candidate's loudness is a weighted sum of those
 * powers, gated as BS.1770 gates 400 ms blocks (four 100 ms parts, 75 %
 * overlap). The export measures its output with the same parts. The unit
 * tests hold both to libebur128's readings of the same audio.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio_impl.h"

/* The two stages of the BS.1770 filter (a high shelf modelling the head,
 * then the RLB high-pass), derived for any rate from the analog
 * prototypes the standard's 48 kHz coefficients come from. */
void kweight_init(struct kweight *k, int rate)
{
	double f0 = 1681.974450955533, gain_db = 3.999843853973347, q = 0.7071752369554196;
	double K = tan(M_PI * f0 / rate), vh = pow(10.0, gain_db / 20.0);
	double vb = pow(vh, 0.4996667741545416), a0 = 1.0 + K / q + K * K;

	memset(k, 0, sizeof(*k));
	k->b[0][0] = (vh + vb * K / q + K * K) / a0;
	k->b[0][1] = 2.0 * (K * K - vh) / a0;
	k->b[0][2] = (vh - vb * K / q + K * K) / a0;
	k->a[0][0] = 2.0 * (K * K - 1.0) / a0;
	k->a[0][1] = (1.0 - K / q + K * K) / a0;

	f0 = 38.13547087602444;
	q = 0.5003270373238773;
	K = tan(M_PI * f0 / rate);
	a0 = 1.0 + K / q + K * K;
	k->b[1][0] = 1.0;
	k->b[1][1] = -2.0;
	k->b[1][2] = 1.0;
	k->a[1][0] = 2.0 * (K * K - 1.0) / a0;
	k->a[1][1] = (1.0 - K / q + K * K) / a0;
}

/* Transposed direct form II, both channels in one vector; double state,
 * since the high-pass's poles sit close to 1. */
static inline kw_v2 kw_stage(const struct kweight *k, int s, kw_v2 *z, kw_v2 x)
{
	kw_v2 y = k->b[s][0] * x + z[0];

	z[0] = k->b[s][1] * x - k->a[s][0] * y + z[1];
	z[1] = k->b[s][2] * x - k->a[s][1] * y;
	return y;
}

static void lsums_close_part(struct lsums *s)
{
	if (s->n < s->cap)
		s->part[s->n++] = s->open;
	s->open = 0;
	s->filled = 0;
}

/* Add a frame's power to the open part, which the caller keeps in locals
 * (in registers, not written through memory per frame). */
static inline void part_add(struct lsums *s, double *open, long *filled, double p)
{
	*open += p;
	if (++*filled == s->per_part) {
		s->open = *open;
		lsums_close_part(s);
		*open = 0;
		*filled = 0;
	}
}

void kweight_run(struct kweight *k, const float *frames, long n, float *power, struct lsums *sums)
{
	kw_v2 z0[2] = { k->z[0][0], k->z[0][1] }, z1[2] = { k->z[1][0], k->z[1][1] };
	double open = sums->open;
	long filled = sums->filled;

	for (long i = 0; i < n; i++) {
		kw_v2 x = { frames[2 * i], frames[2 * i + 1] };
		kw_v2 y = kw_stage(k, 1, z1, kw_stage(k, 0, z0, x));
		double p = y[0] * y[0] + y[1] * y[1];

		if (power)
			power[i] = (float)p;
		part_add(sums, &open, &filled, p);
	}
	sums->open = open;
	sums->filled = filled;
	k->z[0][0] = z0[0];
	k->z[0][1] = z0[1];
	k->z[1][0] = z1[0];
	k->z[1][1] = z1[1];
}

void lsums_add_gained(struct lsums *s, const float *power, const float *gain, double scale, long n)
{
	double open = s->open;
	long filled = s->filled;

	for (long i = 0; i < n; i++)
		part_add(s, &open, &filled, (double)gain[i] * gain[i] * scale * power[i]);
	s->open = open;
	s->filled = filled;
}

int lsums_init(struct lsums *s, int rate, int64_t frames)
{
	memset(s, 0, sizeof(*s));
	s->per_part = (rate + 5) / 10;
	s->cap = (size_t)(frames / s->per_part) + 1;
	s->part = malloc(sizeof(double) * s->cap);
	return s->part ? 0 : -ENOMEM;
}

void lsums_free(struct lsums *s)
{
	free(s->part);
	s->part = NULL;
}


/* Mean power of the 400 ms block that starts at part @k. */
static double block_power(const struct lsums *s, size_t k)
{
	return (s->part[k] + s->part[k + 1] + s->part[k + 2] + s->part[k + 3]) /
	       (4.0 * (double)s->per_part);
}

double lsums_integrated(const struct lsums *s)
{
	const double absolute = pow(10.0, (-70.0 + 0.691) / 10.0);
	double sum = 0, relative;
	size_t count = 0;

	for (size_t k = 0; k + 4 <= s->n; k++) {
		double e = block_power(s, k);

		if (e >= absolute) {
			sum += e;
			count++;
		}
	}
	if (!count)
		return -INFINITY;
	relative = fmax(absolute, sum / (double)count * 0.1);	/* -10 LU */
	sum = 0;
	count = 0;
	for (size_t k = 0; k + 4 <= s->n; k++) {
		double e = block_power(s, k);

		if (e >= relative) {
			sum += e;
			count++;
		}
	}
	return count ? -0.691 + 10.0 * log10(sum / (double)count) : -INFINITY;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Loudness range (EBU Tech 3342): short-term loudness over 3 s windows,
 * one every second (libebur128's spacing), gated at -70 LUFS and at 20 LU
 * under the mean; the spread between the 10th and 95th percentiles.
 */
int lsums_range(const struct lsums *s, double *lu)
{
	const double absolute = pow(10.0, (-70.0 + 0.691) / 10.0);
	size_t n = s->n >= 30 ? (s->n - 30) / 10 + 1 : 0, count = 0, lo, hi;
	double *e = malloc(sizeof(double) * (n ? n : 1)), sum = 0, relative;

	if (!e)
		return -ENOMEM;
	for (size_t w = 0; w < n; w++) {
		double p = 0;

		for (size_t k = 10 * w; k < 10 * w + 30; k++)
			p += s->part[k];
		p /= 30.0 * (double)s->per_part;
		if (p >= absolute) {
			e[count++] = p;
			sum += p;
		}
	}
	*lu = 0;
	if (count) {
		relative = sum / (double)count * 0.01;	/* -20 LU */
		n = 0;
		for (size_t k = 0; k < count; k++)
			if (e[k] >= relative)
				e[n++] = e[k];
		qsort(e, n, sizeof(*e), by_value);
		lo = (size_t)((double)(n - 1) * 0.10 + 0.5);
		hi = (size_t)((double)(n - 1) * 0.95 + 0.5);
		*lu = 10.0 * log10(e[hi] / e[lo]);
	}
	free(e);
	return 0;
}
