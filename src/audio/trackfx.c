/*
 * trackfx.c - polarity, RBJ biquads and linear fades for one stem. See
 * trackfx.h.
 */
#include "trackfx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "audio_impl.h"

/* Coefficients from the audio-EQ cookbook (R. Bristow-Johnson), divided
 * by a0. */
static void bq_set(struct biquad *b, double b0, double b1, double b2, double a0, double a1,
		   double a2)
{
	memset(b, 0, sizeof(*b));
	b->b0 = b0 / a0;
	b->b1 = b1 / a0;
	b->b2 = b2 / a0;
	b->a1 = a1 / a0;
	b->a2 = a2 / a0;
}

static void bq_pass(struct biquad *b, bool high, double f, double q, int rate)
{
	double w = 2 * M_PI * f / rate, c = cos(w), alpha = sin(w) / (2 * q);

	if (high)
		bq_set(b, (1 + c) / 2, -(1 + c), (1 + c) / 2, 1 + alpha, -2 * c, 1 - alpha);
	else
		bq_set(b, (1 - c) / 2, 1 - c, (1 - c) / 2, 1 + alpha, -2 * c, 1 - alpha);
}

static void bq_peak(struct biquad *b, double f, double gain_db, double q, int rate)
{
	double w = 2 * M_PI * f / rate, c = cos(w), alpha = sin(w) / (2 * q);
	double a = pow(10, gain_db / 40);

	bq_set(b, 1 + alpha * a, -2 * c, 1 - alpha * a, 1 + alpha / a, -2 * c, 1 - alpha / a);
}

/* Shelves with slope S = 1 (sox's bass and treble with "1s"). */
static void bq_shelf(struct biquad *b, bool high, double f, double gain_db, int rate)
{
	const double slope = 1.0;
	double w = 2 * M_PI * f / rate, c = cos(w), a = pow(10, gain_db / 40);
	double alpha = sin(w) / 2 * sqrt((a + 1 / a) * (1 / slope - 1) + 2);
	double sa = 2 * sqrt(a) * alpha;

	if (high)
		bq_set(b, a * ((a + 1) + (a - 1) * c + sa), -2 * a * ((a - 1) + (a + 1) * c),
		       a * ((a + 1) + (a - 1) * c - sa), (a + 1) - (a - 1) * c + sa,
		       2 * ((a - 1) - (a + 1) * c), (a + 1) - (a - 1) * c - sa);
	else
		bq_set(b, a * ((a + 1) - (a - 1) * c + sa), 2 * a * ((a - 1) - (a + 1) * c),
		       a * ((a + 1) - (a - 1) * c - sa), (a + 1) + (a - 1) * c + sa,
		       -2 * ((a - 1) + (a + 1) * c), (a + 1) + (a - 1) * c - sa);
}

/* -EINVAL when the band's frequency is over 99 % of Nyquist. */
static int band_init(struct biquad *b, const struct plan_eq *e, int rate)
{
	double q = e->q > 0 ? e->q : M_SQRT1_2;

	if (e->freq_hz > 0.99 * rate / 2)
		return -EINVAL;
	switch (e->type) {
	case PLAN_EQ_PEAK:
		bq_peak(b, e->freq_hz, e->gain_db, q, rate);
		break;
	case PLAN_EQ_LOWSHELF:
	case PLAN_EQ_HIGHSHELF:
		bq_shelf(b, e->type == PLAN_EQ_HIGHSHELF, e->freq_hz, e->gain_db, rate);
		break;
	case PLAN_EQ_LOWPASS:
		bq_pass(b, false, e->freq_hz, q, rate);
		break;
	}
	return 0;
}

static void comp_init(struct compressor *c, const struct plan_comp *p, int rate)
{
	memset(c, 0, sizeof(*c));
	c->on = p->on;
	c->threshold = p->threshold_db;
	c->ratio = p->ratio;
	c->knee = p->knee_db;
	c->makeup = p->makeup_db;
	c->a_att = exp(-1000.0 / (p->attack_ms * rate));
	c->a_rel = exp(-1000.0 / (p->release_ms * rate));
	c->knee_lin = pow(10, (c->threshold - c->knee / 2) / 20);
	c->g_db = c->makeup;
	c->g = pow(10, c->makeup / 20);
}

/* The static curve: how far above the curve a level @l (dB) is, i.e. the
 * reduction it asks for: 0 below the knee, (1 - 1/R)(l - T) above it, and
 * the quadratic in between. */
static double comp_overshoot(const struct compressor *c, double l)
{
	double over = l - c->threshold;

	if (2 * over <= -c->knee)
		return 0;
	if (2 * fabs(over) < c->knee) {
		double d = over + c->knee / 2;

		return (1 - 1 / c->ratio) * d * d / (2 * c->knee);
	}
	return (1 - 1 / c->ratio) * over;
}

/* 20 log10(e): dB from a natural logarithm, and back with exp(), which
 * cost less than log10() and pow() in the per-sample loop. */
#define DB_PER_NEPER 8.685889638065036

/* Stereo-linked: one gain for all channels, from their highest peak. The
 * logarithm is taken only for peaks that reach the knee, and the gain is
 * recomputed only when it moved by more than 1e-5 dB (1e-6 of a step of
 * amplitude): the curve and the time constants are untouched by either. */
static void comp_run(struct compressor *c, float *buf, long frames, int channels)
{
	for (long k = 0; k < frames; k++) {
		float *f = buf + k * channels;
		double peak = 0, xl = 0, g_db;

		for (int ch = 0; ch < channels; ch++)
			peak = fmax(peak, fabs(f[ch]));
		if (peak > c->knee_lin)
			xl = comp_overshoot(c, DB_PER_NEPER * log(peak));
		c->y1 = fmax(xl, c->a_rel * c->y1 + (1 - c->a_rel) * xl);
		c->yl = c->a_att * c->yl + (1 - c->a_att) * c->y1;
		c->max_reduction = fmax(c->max_reduction, c->yl);
		g_db = c->makeup - c->yl;
		if (fabs(g_db - c->g_db) > 1e-5) {
			c->g_db = g_db;
			c->g = exp(g_db / DB_PER_NEPER);
		}
		for (int ch = 0; ch < channels; ch++)
			f[ch] = (float)(f[ch] * c->g);
	}
}

int trackfx_init(struct trackfx *fx, const struct plan_stem *s, size_t index, int rate,
		 int channels, int64_t length, char *err)
{
	memset(fx, 0, sizeof(*fx));
	fx->invert = s->invert;
	fx->channels = channels;
	fx->length = length;
	fx->fade_in = llround(s->fade_in_ms * rate / 1000.0);
	fx->fade_out = llround(s->fade_out_ms * rate / 1000.0);
	if (s->highpass_hz > 0) {
		if (s->highpass_hz > 0.99 * rate / 2) {
			snprintf(err, AUDIO_ERR_MAX, "stems[%zu].highpass_hz: %g Hz is above %d Hz "
				 "(99 %% of half the output rate)", index, s->highpass_hz,
				 (int)(0.99 * rate / 2));
			return -EINVAL;
		}
		bq_pass(&fx->bq[fx->n_bq++], true, s->highpass_hz, M_SQRT1_2, rate);
	}
	for (size_t k = 0; k < s->n_eq; k++) {
		if (band_init(&fx->bq[fx->n_bq++], &s->eq[k], rate)) {
			snprintf(err, AUDIO_ERR_MAX, "stems[%zu].eq[%zu].freq_hz: %g Hz is above %d Hz "
				 "(99 %% of half the output rate)", index, k, s->eq[k].freq_hz,
				 (int)(0.99 * rate / 2));
			return -EINVAL;
		}
	}
	comp_init(&fx->comp, &s->comp, rate);
	return 0;
}

bool trackfx_active(const struct trackfx *fx)
{
	return fx->invert || fx->n_bq > 0 || fx->comp.on || fx->fade_in > 0 || fx->fade_out > 0;
}

/* The cascade, a frame at a time and every channel and band in one pass:
 * the recursions of different channels and bands are independent, so the
 * processor overlaps them (filtering one band over the whole block at a
 * time waits on each sample's previous result). Same arithmetic, same
 * order per sample, as one band after the other. */
static void filters_run(struct trackfx *fx, float *buf, long frames)
{
	for (long k = 0; k < frames; k++) {
		for (int ch = 0; ch < fx->channels; ch++) {
			double x = buf[k * fx->channels + ch];

			for (int i = 0; i < fx->n_bq; i++) {
				struct biquad *b = &fx->bq[i];
				double y = b->b0 * x + b->b1 * b->x1[ch] + b->b2 * b->x2[ch] -
					   b->a1 * b->y1[ch] - b->a2 * b->y2[ch];

				b->x2[ch] = b->x1[ch];
				b->x1[ch] = x;
				b->y2[ch] = b->y1[ch];
				b->y1[ch] = y;
				x = (float)y; /* each band's output is a float sample, as in sox */
			}
			buf[k * fx->channels + ch] = (float)x;
		}
	}
}

/* Linear, as sox's `fade t`: frame i of an N-frame fade-in has gain i/N;
 * of a fade-out ending at the stem's last frame L-1, (L - i)/N. */
static double fade_gain(const struct trackfx *fx, int64_t f)
{
	double g = 1;

	if (f < fx->fade_in)
		g *= (double)f / (double)fx->fade_in;
	if (fx->fade_out > 0 && f >= fx->length - fx->fade_out)
		g *= (double)(fx->length - f) / (double)fx->fade_out;
	return g;
}

void trackfx_run(struct trackfx *fx, float *buf, long frames)
{
	long n = frames * fx->channels;

	if (fx->invert)
		for (long k = 0; k < n; k++)
			buf[k] = -buf[k];
	if (fx->n_bq)
		filters_run(fx, buf, frames);
	if (fx->comp.on)
		comp_run(&fx->comp, buf, frames, fx->channels);
	if (fx->fade_in > 0 || fx->fade_out > 0) {
		for (long k = 0; k < frames; k++) {
			int64_t f = fx->pos + k;

			if (f < fx->fade_in || f >= fx->length - fx->fade_out) {
				float g = (float)fade_gain(fx, f);

				for (int ch = 0; ch < fx->channels; ch++)
					buf[k * fx->channels + ch] *= g;
			}
		}
	}
	fx->pos += frames;
}
