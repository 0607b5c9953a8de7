/*
 * plan.h - a validated mix request as plain data: what the audio engine
 * renders. It knows nothing of JSON (request.h makes plans) nor of jobs.
 */
#ifndef MIXFS_PLAN_H
#define MIXFS_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#define PLAN_NAME_MAX 255

/* An EQ band (SPEC 7a): the RBJ audio-EQ-cookbook biquads. */
enum plan_eq_type { PLAN_EQ_PEAK, PLAN_EQ_LOWSHELF, PLAN_EQ_HIGHSHELF, PLAN_EQ_LOWPASS };
#define PLAN_MAX_EQ 8

struct plan_eq {
	enum plan_eq_type type;
	double freq_hz;			/* 10 .. 99 % of half the output rate */
	double gain_db;			/* peak and shelves: -24 .. 24 */
	double q;			/* peak, lowpass: 0.1 .. 10; 0 = the default */
};

/* A stem's compressor (SPEC 7a): feed-forward on its peak level. */
struct plan_comp {
	bool on;
	double threshold_db;		/* -60 .. 0 */
	double ratio;			/* 1 .. 20 */
	double attack_ms;		/* 0.1 .. 500 */
	double release_ms;		/* 1 .. 5000 */
	double knee_db;			/* 0 .. 24 */
	double makeup_db;		/* 0 .. 24 */
};

struct plan_stem {
	char file[PLAN_NAME_MAX + 1];	/* a plain name inside stems/ */
	double gain_db;
	double pan;			/* -1 (left) .. 1 (right) */
	double offset_ms;		/* >= 0 */
	bool mute;
	bool solo;
	/* track processing, in this order, before gain and pan (SPEC 7a) */
	bool invert;
	double highpass_hz;		/* 0 = none; else 10 .. 1000 */
	struct plan_eq eq[PLAN_MAX_EQ];
	size_t n_eq;
	struct plan_comp comp;
	double fade_in_ms;		/* 0 = none */
	double fade_out_ms;
};

enum plan_align { PLAN_ALIGN_OFFSETS, PLAN_ALIGN_AUTO };
/* limit: gain, then the true-peak limiter; normalize: one linear gain,
 * stopping at the ceiling (SPEC 7a) */
enum plan_master_mode { PLAN_MASTER_LIMIT, PLAN_MASTER_NORMALIZE };
enum plan_format { PLAN_FMT_WAV, PLAN_FMT_FLAC };

/* Stems one mix takes, as listed or found in stems/. */
#define PLAN_MAX_STEMS 64

struct plan {
	/* Owned array; when @all_stems is set the engine fills it with every
	 * audio file in stems/ (but the reference) at defaults. */
	struct plan_stem *stems;
	size_t n_stems;
	bool all_stems;
	enum plan_align align;
	char reference[PLAN_NAME_MAX + 1];	/* "" unless align is auto */
	double align_window_ms;
	int sample_rate;			/* 0 = the highest stem rate */
	bool master;
	double target_lufs;
	double true_peak_dbtp;
	enum plan_master_mode master_mode;
	enum plan_format format;
	int bit_depth;				/* 16, 24, or 32 (float) */
};

/* Defaults of SPEC section 7: every stem, offsets as given, -14 LUFS /
 * -1 dBTP, WAV 24-bit. Owns nothing. */
void plan_init_default(struct plan *p);
/* Free what @p owns and reset it to defaults. */
void plan_clear(struct plan *p);

#endif
