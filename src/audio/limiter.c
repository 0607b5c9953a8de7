/*
 * limiter.c - true-peak detection by 4x oversampling, and a channel-linked
 * look-ahead limiter built so it can never let a detected peak through.
 *
 * The limiter's gain at frame j is the average, over the L+1 frames
 * j-L..j, of m[k] = min(gt[k..k+L]), where gt[n] = ceiling / peak[n] (at
 * most 1). Every m[k] in that average covers frame j, so the average is at
 * most gt[j]: the peak at j is held to the ceiling, and the gain moves as a
 * smooth ramp of L frames rather than a step. Release is exponential and
 * also capped by that average, so it cannot undo the guarantee.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio_impl.h"

/* ---- detector ---- */

#define TP_HALF 8		/* taps each side: 16 per phase */
#define TP_PHASES 4
#define TP_LEN (2 * TP_HALF)

/* Four lanes: phases 1/4, 2/4, 3/4 and an unused one, so each tap is one
 * vector multiply-add (GCC/Clang vector extension). */
typedef float tp_v4 __attribute__((vector_size(16)));

static inline float fmax2(float a, float b)
{
	return a > b ? a : b;
}

static inline float fmin2(float a, float b)
{
	return a < b ? a : b;
}

struct tp_detector {
	tp_v4 coef[TP_LEN];
	float hist[2][2 * TP_LEN];		/* each sample stored twice */
	int pos;
	long pushed;
};

static double bessel_i0(double x)
{
	double sum = 1, term = 1;

	for (int k = 1; k < 30; k++) {
		term *= (x / (2 * k)) * (x / (2 * k));
		sum += term;
	}
	return sum;
}

/* Kaiser-windowed sinc interpolation at fractional positions p/4. */
static void tp_design(struct tp_detector *d)
{
	const double beta = 7.0;

	for (int p = 1; p < TP_PHASES; p++) {
		double f = (double)p / TP_PHASES;

		for (int k = 0; k < TP_LEN; k++) {
			double t = f - (k - TP_HALF + 1);	/* taps at n-7 .. n+8 */
			double u = t / (TP_HALF + 0.5);
			double sinc = fabs(t) < 1e-12 ? 1 : sin(M_PI * t) / (M_PI * t);
			double w = fabs(u) >= 1 ? 0 : bessel_i0(beta * sqrt(1 - u * u)) / bessel_i0(beta);

			d->coef[k][p - 1] = (float)(sinc * w);
		}
	}
}

struct tp_detector *tp_new(void)
{
	struct tp_detector *d = calloc(1, sizeof(*d));

	if (d)
		tp_design(d);
	return d;
}

void tp_free(struct tp_detector *d)
{
	free(d);
}

int tp_delay(void)
{
	return TP_HALF;
}

static float tp_channel(const struct tp_detector *d, const float *win)
{
	tp_v4 acc = { 0, 0, 0, 0 };

	for (int k = 0; k < TP_LEN; k++)
		acc += d->coef[k] * win[k];
	return fmax2(fmax2(fabsf(win[TP_HALF - 1]), fabsf(acc[0])),
		     fmax2(fabsf(acc[1]), fabsf(acc[2])));
}

float tp_push(struct tp_detector *d, float l, float r)
{
	d->hist[0][d->pos] = d->hist[0][d->pos + TP_LEN] = l;
	d->hist[1][d->pos] = d->hist[1][d->pos + TP_LEN] = r;
	d->pos = (d->pos + 1) % TP_LEN;
	if (++d->pushed < TP_LEN - TP_HALF + 1)
		return -1;
	/* The window hist[pos .. pos+TP_LEN) runs oldest to newest: frames
	 * n-7 .. n+8 around the frame n whose interval (n, n+1) is measured. */
	return fmax2(tp_channel(d, &d->hist[0][d->pos]), tp_channel(d, &d->hist[1][d->pos]));
}

/* ---- limiter ---- */

struct limiter {
	int L;			/* look-ahead in frames */
	double release;		/* per-frame release coefficient */
	int n;			/* ring size L+1 */
	long pushed;
	int slot;		/* pushed % n */
	float prev_peak;
	/* sliding minimum of gt over the last L+1 frames: a monotonic deque */
	float *dq_val;
	long *dq_idx;
	int dq_head, dq_len;
	/* moving average of m over the last L+1 values */
	float *m_ring;
	double m_sum;
	/* delayed audio */
	float *x_ring;
	float gain, min_gain;
};

struct limiter *limiter_new(int rate, double lookahead_ms, double release_ms)
{
	struct limiter *lim = calloc(1, sizeof(*lim));

	if (!lim)
		return NULL;
	lim->L = (int)lround(lookahead_ms * rate / 1000.0);
	if (lim->L < 1)
		lim->L = 1;
	lim->n = lim->L + 1;
	lim->release = 1 - exp(-1000.0 / (release_ms * rate));
	lim->dq_val = malloc(sizeof(float) * (size_t)lim->n);
	lim->dq_idx = malloc(sizeof(long) * (size_t)lim->n);
	lim->m_ring = malloc(sizeof(float) * (size_t)lim->n);
	lim->x_ring = calloc((size_t)lim->n * 2, sizeof(float));
	if (!lim->dq_val || !lim->dq_idx || !lim->m_ring || !lim->x_ring) {
		limiter_free(lim);
		return NULL;
	}
	for (int i = 0; i < lim->n; i++)
		lim->m_ring[i] = 1;
	lim->m_sum = lim->n;
	lim->gain = lim->min_gain = 1;
	return lim;
}

void limiter_free(struct limiter *lim)
{
	if (!lim)
		return;
	free(lim->dq_val);
	free(lim->dq_idx);
	free(lim->m_ring);
	free(lim->x_ring);
	free(lim);
}

int limiter_lookahead(const struct limiter *lim)
{
	return lim->L;
}

float limiter_min_gain(const struct limiter *lim)
{
	return lim->min_gain;
}

/* (a + b) mod n for a, b < n, without a division in the per-frame path */
static inline int ring_add(int a, int b, int n)
{
	int r = a + b;

	return r >= n ? r - n : r;
}

static void dq_push(struct limiter *lim, long idx, float v)
{
	int back;

	/* drop larger values from the back: they can never be the minimum */
	while (lim->dq_len &&
	       lim->dq_val[ring_add(lim->dq_head, lim->dq_len - 1, lim->n)] >= v)
		lim->dq_len--;
	back = ring_add(lim->dq_head, lim->dq_len, lim->n);
	lim->dq_val[back] = v;
	lim->dq_idx[back] = idx;
	lim->dq_len++;
	/* and expired ones from the front */
	while (lim->dq_idx[lim->dq_head] <= idx - lim->n) {
		lim->dq_head = ring_add(lim->dq_head, 1, lim->n);
		lim->dq_len--;
	}
}

int limiter_push(struct limiter *lim, float l, float r, float peak, float ceiling,
		 float *ol, float *orr)
{
	long i = lim->pushed++;
	float p = fmax2(peak, lim->prev_peak); /* the intervals on both sides */
	float gt = p > ceiling ? ceiling / p : 1.0f;
	int slot = lim->slot;
	float m, avg, g;

	lim->slot = ring_add(slot, 1, lim->n);

	lim->prev_peak = peak;
	dq_push(lim, i, gt);
	lim->x_ring[2 * slot] = l;
	lim->x_ring[2 * slot + 1] = r;
	/* m[i-L] = min(gt[i-L .. i]) is the deque's front once L+1 are in */
	m = i >= lim->L ? lim->dq_val[lim->dq_head] : 1.0f;
	if (i < lim->L)
		return 0;
	if (i == lim->L) {
		/* the frames before the first have no m of their own; they take
		 * the first one's (the least gain of all that exist), so the
		 * first L frames out are held to the ceiling too */
		for (int k = 0; k < lim->n; k++)
			lim->m_ring[k] = m;
		lim->m_sum = (double)m * lim->n;
	}
	lim->m_sum += (double)m - lim->m_ring[slot];
	lim->m_ring[slot] = m;
	avg = (float)(lim->m_sum / lim->n);
	g = lim->gain + (1.0f - lim->gain) * (float)lim->release;
	g = fmin2(g, avg);
	lim->gain = g;
	lim->min_gain = fmin2(lim->min_gain, g);
	/* frame i-L: its slot is the one after i's, (i+1) % n */
	slot = lim->slot;
	*ol = lim->x_ring[2 * slot] * g;
	*orr = lim->x_ring[2 * slot + 1] * g;
	return 1;
}
