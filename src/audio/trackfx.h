/*
 * trackfx.h - a stem's own processing before gain and pan (SPEC 7a), in
 * the order the spec gives: polarity, high-pass, EQ bands, compressor,
 * fades. Filters
 * are the RBJ audio-EQ-cookbook biquads in direct form I with double
 * precision state (the same filters, and the same arithmetic, as sox's
 * highpass, lowpass, equalizer, bass and treble), so a stem nulls against
 * the same chain in sox. Streamed: each call continues where the last one
 * stopped, and the state is a few numbers per band and channel.
 */
#ifndef MIXFS_TRACKFX_H
#define MIXFS_TRACKFX_H

#include <stdbool.h>
#include <stdint.h>

#include "mixfs/plan.h"

struct biquad {
	double b0, b1, b2, a1, a2;	/* normalised by a0 */
	double x1[2], x2[2], y1[2], y2[2];	/* per channel */
};

/* The compressor's state: the smooth decoupled peak detector of
 * Giannoulis, Massberg and Reiss (JAES 2012) on the gain computer's
 * overshoot, in dB. */
struct compressor {
	bool on;
	double threshold, ratio, knee, makeup;	/* dB, and the ratio */
	double a_att, a_rel;	/* one-pole coefficients of the time constants */
	double y1, yl;		/* detector state: released peak, attack-smoothed */
	double knee_lin;	/* the level (linear) under which nothing is asked */
	double g_db, g;		/* the last gain computed, in dB and linear */
	double max_reduction;	/* dB, the most it took off */
};

struct trackfx {
	bool invert;
	struct biquad bq[1 + PLAN_MAX_EQ];
	int n_bq;
	struct compressor comp;
	int channels;
	int64_t length;		/* the stem's frames at the output rate */
	int64_t fade_in, fade_out;	/* frames; 0 = none */
	int64_t pos;		/* frames processed so far */
};

/*
 * Set up stem @s's chain (its @index in the request, for messages) at
 * @rate for @channels channels of @length frames. Returns 0, or -EINVAL
 * with @err (AUDIO_ERR_MAX) naming the key, when a frequency does not fit
 * under the output rate's Nyquist frequency (less 1 %).
 */
int trackfx_init(struct trackfx *fx, const struct plan_stem *s, size_t index, int rate,
		 int channels, int64_t length, char *err);
/* Whether the chain changes anything (a stem without processing is left
 * alone, bit for bit). */
bool trackfx_active(const struct trackfx *fx);
/* Process @frames interleaved frames of @buf in place. */
void trackfx_run(struct trackfx *fx, float *buf, long frames);

#endif
