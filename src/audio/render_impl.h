/*
 * render_impl.h - one render's state, shared by pipeline.c (loading,
 * aligning, mixing into the temp file) and master.c (mastering and
 * export). A render runs on one thread (plus its stage thread, which sees
 * only what a stage hands it); nothing here is locked.
 */
#ifndef MIXFS_AUDIO_RENDER_IMPL_H
#define MIXFS_AUDIO_RENDER_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "audio_impl.h"
#include "trackfx.h"
#include "mixfs/mix.h"
#include "mixfs/plan.h"

/*
 * The temp file holds the plain mix as left, right (floats) per frame,
 * then, for each group of TMP_GROUP frames, the highest true peak among
 * them and the sum of their K-weighted power: what the limiter and the
 * loudness prediction read, a quarter of the bytes of per-frame values.
 */
#define TMP_GROUP 4

static inline float fmax_f(float a, float b)
{
	return a > b ? a : b;
}

static inline float fmin_f(float a, float b)
{
	return a < b ? a : b;
}

static inline double db(double lin)
{
	return 20.0 * log10(lin);
}

struct render {
	const struct plan *plan;
	const struct mix_callbacks *cb;
	char *err;
	struct plan_stem *list;	/* the stems to mix (plan's, or all of stems/) */
	size_t n;
	struct stem *in;	/* owned, n of them */
	float (*gain)[2];	/* owned: per stem, to left and right */
	struct trackfx *fx;	/* owned: per stem, its processing (trackfx.h) */
	int64_t *offset;	/* owned: output-rate samples */
	int rate;
	int64_t length;		/* output frames */
	int tmp_fd;
	float peak_max;		/* highest true peak of the plain mix */
	double l0;		/* its integrated loudness */
	enum mix_stage stage;
	int progress;
};

/* The callbacks, each optional: a new stage, progress within it (@done of
 * @total), whether to stop (then -ECANCELED with "cancelled" in r->err),
 * a line for the job's log. */
void r_stage(struct render *r, enum mix_stage s);
void r_progress(struct render *r, double done, double total);
int r_cancelled(struct render *r);
void r_log(struct render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read (@wr false) or write the temp mix's frames [@frame, @frame +
 * @frames): tmp_frames() their left and right, tmp_groups() their groups
 * (peak, power), @frame a multiple of TMP_GROUP. 0, or -errno with @err
 * (AUDIO_ERR_MAX: r->err, or a second thread's own) naming the problem. */
int tmp_frames(struct render *r, bool wr, float *lr, int64_t frame, long frames, char *err);
int tmp_groups(struct render *r, bool wr, float *groups, int64_t frame, long frames, char *err);

/* Master the temp mix to the plan's target and write @out; fills the
 * loudness, peak and gain of @res. 0 or -errno with r->err set. */
int master_and_export(struct render *r, const struct mix_target *out, struct mix_result *res);

#endif
