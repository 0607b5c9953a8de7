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

/* 32 taps per phase: with 16 the interpolation drooped toward Nyquist and
 * read noise-like material up to 0.4 dB under ffmpeg's meter; with 32 it
 * reads at or over it */
#define TP_HALF 16		/* taps each side */
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

#define TP_CHUNK 1024		/* frames tp_run() filters at once */

struct tp_detector {
	tp_v4 coef[TP_LEN];
	float phase[TP_PHASES - 1][TP_LEN];	/* the same taps, phase by phase */
	float hist[2][2 * TP_LEN];		/* each sample stored twice */
	int pos;
	long pushed;
	float lin[TP_LEN - 1 + TP_CHUNK];	/* tp_run(): one channel, history first */
	float peak[TP_CHUNK];			/* a multiple of 8 */
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
	const double beta = 8.0;

	for (int p = 1; p < TP_PHASES; p++) {
		double f = (double)p / TP_PHASES;

		for (int k = 0; k < TP_LEN; k++) {
			double t = f - (k - TP_HALF + 1);	/* taps at n-15 .. n+16 */
			double u = t / (TP_HALF + 0.5);
			double sinc = fabs(t) < 1e-12 ? 1 : sin(M_PI * t) / (M_PI * t);
			double w = fabs(u) >= 1 ? 0 : bessel_i0(beta * sqrt(1 - u * u)) / bessel_i0(beta);

			d->coef[k][p - 1] = (float)(sinc * w);
			d->phase[p - 1][k] = d->coef[k][p - 1];
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
	 * n-15 .. n+16 around the frame n whose interval (n, n+1) is measured. */
	return fmax2(tp_channel(d, &d->hist[0][d->pos]), tp_channel(d, &d->hist[1][d->pos]));
}

/*
 * The same filter over a block of one channel, eight frames at a time:
 * each tap is one multiply-add across the eight (one AVX instruction
 * where the CPU has AVX2, picked at load time; two SSE ones elsewhere).
 * Sums run in tp_channel()'s order, so the peaks are the same to the bit.
 * @x holds TP_LEN - 1 samples of history, then @n rounded up to 8.
 */
typedef float tp_v8 __attribute__((vector_size(32)));
typedef int tp_i8 __attribute__((vector_size(32)));

/* macros, not functions: a function passing AVX vectors has an ABI that
 * depends on the build's flags */
#define V8_LOAD(v, p) memcpy(&(v), (p), sizeof(tp_v8))
#define V8_ABS(v) ((tp_v8)((tp_i8)(v) & 0x7fffffff))
#define V8_MAX(a, b) ((tp_v8)(((tp_i8)(a) & ((a) > (b))) | ((tp_i8)(b) & ~((a) > (b)))))

__attribute__((target_clones("avx2", "default")))
static void tp_block(const float (*phase)[TP_LEN], const float *x, long n, float *peak)
{
	for (long t = 0; t < n; t += 8) {
		tp_v8 pk, mid, xk;

		V8_LOAD(pk, peak + t);
		V8_LOAD(mid, x + t + TP_HALF - 1);
		mid = V8_ABS(mid);
		pk = V8_MAX(pk, mid);
		for (int p = 0; p < TP_PHASES - 1; p++) {
			tp_v8 acc = { 0 };

			for (int k = 0; k < TP_LEN; k++) {
				V8_LOAD(xk, x + t + k);
				acc += phase[p][k] * xk;
			}
			acc = V8_ABS(acc);
			pk = V8_MAX(pk, acc);
		}
		memcpy(peak + t, &pk, sizeof(pk));
	}
}

static void tp_run_chunk(struct tp_detector *d, const float *frames, long n, float *peaks)
{
	long n8 = (n + 7) / 8 * 8;

	memset(d->peak, 0, sizeof(d->peak));
	memset(d->lin + TP_LEN - 1 + n, 0, sizeof(float) * (size_t)(n8 - n));
	for (int c = 0; c < 2; c++) {
		/* the TP_LEN - 1 newest samples before the block, then the block */
		memcpy(d->lin, &d->hist[c][d->pos + 1], sizeof(float) * (TP_LEN - 1));
		for (long t = 0; t < n; t++)
			d->lin[TP_LEN - 1 + t] = frames[2 * t + c];
		tp_block(d->phase, d->lin, n8, d->peak);
		/* the ring as tp_push() would have left it: the newest TP_LEN
		 * samples, oldest at pos */
		for (int k = 0; k < TP_LEN; k++) {
			int at = (d->pos + n + k) % TP_LEN;

			d->hist[c][at] = d->hist[c][at + TP_LEN] = d->lin[n - 1 + k];
		}
	}
	d->pos = (int)((d->pos + n) % TP_LEN);
	for (long t = 0; t < n; t++)
		peaks[t] = ++d->pushed < TP_LEN - TP_HALF + 1 ? -1 : d->peak[t];
}

void tp_run(struct tp_detector *d, const float *frames, long n, float *peaks)
{
	for (long done = 0; done < n; done += TP_CHUNK) {
		long m = n - done < TP_CHUNK ? n - done : TP_CHUNK;

		tp_run_chunk(d, frames + 2 * done, m, peaks + done);
	}
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

float limiter_gain(struct limiter *lim, float peak, float ceiling)
{
	long i = lim->pushed++;
	float p = fmax2(peak, lim->prev_peak); /* the intervals on both sides */
	float gt = p > ceiling ? ceiling / p : 1.0f;
	int slot = lim->slot;
	float m, avg, g;

	lim->slot = ring_add(slot, 1, lim->n);
	lim->prev_peak = peak;
	if (gt == 1.0f && i > lim->L && lim->dq_val[lim->dq_head] == 1.0f && lim->m_sum == lim->n) {
		/* Nothing over the ceiling within two look-aheads: every m is 1
		 * and only the release moves. (m_sum is exact: sums of up to
		 * n floats in (2^-22, 1] fit a double's mantissa.) The deque of
		 * a window of ones is one entry, the newest. */
		lim->dq_val[lim->dq_head] = 1.0f;
		lim->dq_idx[lim->dq_head] = i;
		lim->gain += (1.0f - lim->gain) * (float)lim->release;
		return lim->gain;
	}
	dq_push(lim, i, gt);
	/* m[i-L] = min(gt[i-L .. i]) is the deque's front once L+1 are in */
	if (i < lim->L)
		return -1;
	m = lim->dq_val[lim->dq_head];
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
	return g;
}

int limiter_push(struct limiter *lim, float l, float r, float peak, float ceiling,
		 float *ol, float *orr)
{
	int slot = lim->slot;
	float g;

	lim->x_ring[2 * slot] = l;
	lim->x_ring[2 * slot + 1] = r;
	if ((g = limiter_gain(lim, peak, ceiling)) < 0)
		return 0;
	/* frame i-L: its slot is the one after i's, (i+1) % n */
	slot = lim->slot;
	*ol = lim->x_ring[2 * slot] * g;
	*orr = lim->x_ring[2 * slot + 1] * g;
	return 1;
}
