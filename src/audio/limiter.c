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

static inline float fmax2(float a, float b)
{
	return a > b ? a : b;
}

static inline float fmin2(float a, float b)
{
	return a < b ? a : b;
}

#define TP_CHUNK 1024		/* frames tp_run() filters at once */

/*
 * The three phases' taps mirror each other: phase 2/4 is symmetric and
 * phase 3/4 is phase 1/4 reversed. So each pair of samples k, TP_LEN-1-k
 * is added and subtracted once, and
 *   y2 = sum mid[k] s[k],  y1 = A + B,  y3 = A - B,
 *   A = sum even[k] s[k],  B = sum odd[k] d[k]
 * over the TP_HALF pairs: half the multiplies of three plain filters.
 */
struct tp_detector {
	float mid[TP_HALF];			/* phase 2/4 */
	float even[TP_HALF], odd[TP_HALF];	/* halves of phase 1/4 +- its mirror */
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
	double c[TP_PHASES - 1][TP_LEN];

	for (int p = 1; p < TP_PHASES; p++) {
		double f = (double)p / TP_PHASES;

		for (int k = 0; k < TP_LEN; k++) {
			double t = f - (k - TP_HALF + 1);	/* taps at n-15 .. n+16 */
			double u = t / (TP_HALF + 0.5);
			double sinc = fabs(t) < 1e-12 ? 1 : sin(M_PI * t) / (M_PI * t);
			double w = fabs(u) >= 1 ? 0 : bessel_i0(beta * sqrt(1 - u * u)) / bessel_i0(beta);

			c[p - 1][k] = sinc * w;
		}
	}
	for (int k = 0; k < TP_HALF; k++) {
		d->mid[k] = (float)c[1][k];
		d->even[k] = (float)((c[0][k] + c[0][TP_LEN - 1 - k]) / 2);
		d->odd[k] = (float)((c[0][k] - c[0][TP_LEN - 1 - k]) / 2);
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
	float y2 = 0, a = 0, b = 0;

	for (int k = 0; k < TP_HALF; k++) {
		float s = win[k] + win[TP_LEN - 1 - k], df = win[k] - win[TP_LEN - 1 - k];

		y2 += d->mid[k] * s;
		a += d->even[k] * s;
		b += d->odd[k] * df;
	}
	return fmax2(fmax2(fabsf(win[TP_HALF - 1]), fabsf(y2)), fmax2(fabsf(a + b), fabsf(a - b)));
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
 * each operation works on the eight at once (one AVX instruction where the
 * CPU has AVX2, picked at load time; two SSE ones elsewhere).
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

AUDIO_CLONES
static void tp_block(const struct tp_detector *d, const float *x, long n, float *peak)
{
	for (long t = 0; t < n; t += 8) {
		tp_v8 pk, y2 = { 0 }, a = { 0 }, b = { 0 }, lo, hi, sum, diff;

		V8_LOAD(pk, peak + t);
		for (int k = 0; k < TP_HALF; k++) {
			V8_LOAD(lo, x + t + k);
			V8_LOAD(hi, x + t + TP_LEN - 1 - k);
			sum = lo + hi;
			diff = lo - hi;
			y2 += d->mid[k] * sum;
			a += d->even[k] * sum;
			b += d->odd[k] * diff;
		}
		V8_LOAD(lo, x + t + TP_HALF - 1);
		lo = V8_ABS(lo);
		pk = V8_MAX(pk, lo);
		y2 = V8_ABS(y2);
		pk = V8_MAX(pk, y2);
		sum = a + b;
		sum = V8_ABS(sum);
		pk = V8_MAX(pk, sum);
		diff = a - b;
		diff = V8_ABS(diff);
		pk = V8_MAX(pk, diff);
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
		tp_block(d, d->lin, n8, d->peak);
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
	float keep;		/* per frame, the share of a reduction the release keeps */
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
	float excess;		/* 1 - the gain: the reduction left to release */
	float min_gain;
	/* every m in the window is 1 and the deque holds one 1: until a peak
	 * goes over, only the release moves */
	bool resting;
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
	lim->keep = (float)exp(-1000.0 / (release_ms * rate));
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
	lim->min_gain = 1;
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

/* A frame whose peak, or a neighbour's within the window, is over the
 * ceiling: the deque, the moving average and the release. */
__attribute__((noinline))
static float gain_slow(struct limiter *lim, long i, int slot, float gt)
{
	float m, avg, g;

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
	g = fmin2(1.0f - lim->excess * lim->keep, avg);
	lim->excess = 1.0f - g;
	lim->min_gain = fmin2(lim->min_gain, g);
	/* m_sum is exact while every m is over 2^-13 (a reduction under 78
	 * dB): n <= 2^10 floats of 24 bits from there span under 53 bits, so
	 * it is n again once every m is 1. Deeper reductions may leave it a
	 * hair off; the limiter then never rests, which costs time only. */
	lim->resting = lim->dq_val[lim->dq_head] == 1.0f && lim->m_sum == lim->n;
	return g;
}

/* The per-frame state, copied into locals for a block so the fast path
 * runs in registers. */
struct lim_regs {
	long i;			/* the frame being pushed */
	int slot;		/* its slot in the rings */
	float prev_peak, excess, keep, ceiling;
	bool resting;
};

static inline struct lim_regs regs_load(const struct limiter *lim, float ceiling)
{
	return (struct lim_regs){ .i = lim->pushed, .slot = lim->slot, .prev_peak = lim->prev_peak,
				  .excess = lim->excess, .keep = lim->keep, .ceiling = ceiling,
				  .resting = lim->resting };
}

static inline void regs_store(struct limiter *lim, const struct lim_regs *q)
{
	lim->pushed = q->i;
	lim->slot = q->slot;
	lim->prev_peak = q->prev_peak;
	lim->excess = q->excess;
	lim->resting = q->resting;
}

/* Push a frame's peak; the gain for frame i - L, or -1. The frame's slot
 * in the rings goes to *@at. */
static inline float gain_step(struct limiter *lim, struct lim_regs *q, float peak, int *at)
{
	float p = fmax2(peak, q->prev_peak); /* the intervals on both sides */
	float g;

	*at = q->slot;
	q->slot = ring_add(q->slot, 1, lim->n);
	q->prev_peak = peak;
	if (p <= q->ceiling && q->resting) {
		/* The deque's one entry stays a 1: any value pushed later
		 * takes its place, whatever its index. */
		q->i++;
		q->excess *= q->keep;
		return 1.0f - q->excess;
	}
	lim->excess = q->excess;
	g = gain_slow(lim, q->i++, *at, p > q->ceiling ? q->ceiling / p : 1.0f);
	q->excess = lim->excess;
	q->resting = lim->resting;
	return g;
}

/* Push a frame; its delayed, limited counterpart into *@ol, *@orr. */
static inline int push_step(struct limiter *lim, struct lim_regs *q, float l, float r, float peak,
			    float *ol, float *orr)
{
	int at, out;
	float g;

	lim->x_ring[2 * q->slot] = l;
	lim->x_ring[2 * q->slot + 1] = r;
	if ((g = gain_step(lim, q, peak, &at)) < 0)
		return 0;
	out = q->slot;	/* frame i-L: its slot is the one after i's */
	*ol = lim->x_ring[2 * out] * g;
	*orr = lim->x_ring[2 * out + 1] * g;
	return 1;
}

long limiter_run(struct limiter *lim, const float *lr, const float *peak, long in, long n, float g,
		 float ceiling, float *restrict y)
{
	struct lim_regs q = regs_load(lim, ceiling);
	long m = 0;

	for (long k = 0; k < n; k++) {
		if (k < in)
			m += push_step(lim, &q, lr[2 * k] * g, lr[2 * k + 1] * g, peak[k] * g, &y[2 * m],
				       &y[2 * m + 1]);
		else
			m += push_step(lim, &q, 0, 0, 0, &y[2 * m], &y[2 * m + 1]);
	}
	regs_store(lim, &q);
	return m;
}

void limiter_gains(struct limiter *lim, const float *peak, long in, long n, float g, float ceiling,
		   float *restrict gains)
{
	struct lim_regs q = regs_load(lim, ceiling);
	int at;

	for (long k = 0; k < n; k++)
		gains[k] = gain_step(lim, &q, k < in ? peak[k] * g : 0, &at);
	regs_store(lim, &q);
}
