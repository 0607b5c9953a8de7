/*
 * mix.h - the audio engine: a plan and a session's stems in, one mastered
 * file out. It knows nothing of FUSE, JSON or jobs.
 *
 * mix_render() runs the stages in order, telling the caller each one:
 *   loading      open every stem, check it, pick the output rate
 *   aligning     offsets to samples; "auto" refines them by GCC-PHAT
 *   processing   per-track gains (gain, pan law, mute, solo) and resamplers
 *   mixing       stream every track, sum in float, detect true peaks
 *   mastering    measure, gain, look-ahead true-peak limit, re-measure
 *   exporting    write the output format (dither, clipping) and rename it
 * Audio is float from load to export and streamed in blocks, so memory does
 * not grow with the song's length; the mix between stages lives in an
 * unnamed temp file beside the output.
 */
#ifndef MIXFS_MIX_H
#define MIXFS_MIX_H

#include <stdbool.h>
#include <stddef.h>

#include "mixfs/plan.h"

enum mix_stage {
	MIX_LOADING,
	MIX_ALIGNING,
	MIX_PROCESSING,
	MIX_MIXING,
	MIX_MASTERING,
	MIX_EXPORTING,
	MIX_STAGE_COUNT
};

#define MIX_MAX_STEMS PLAN_MAX_STEMS

struct mix_result {
	double duration_s;
	int sample_rate;
	int channels;
	double integrated_lufs;	/* of the output, as exported */
	double true_peak_dbtp;	/* of the output, 4x oversampled */
	double gain_db;		/* mastering gain before the limiter */
	bool target_reached;	/* within 0.1 LU of the target (or no master) */
	double loudness_range_lu;	/* of the output (EBU Tech 3342) */
	double max_gain_reduction_db;	/* the limiter's deepest, >= 0 (0 in normalize) */
	double target_missed_lu;	/* how far under the target it stayed (normalize
					 * stopped at the ceiling), else 0 */
	size_t n_stems;
	double offsets_ms[MIX_MAX_STEMS];	/* used, per stem in plan order */
};

/* Every callback may be NULL. They run on the rendering thread. */
struct mix_callbacks {
	/* A new stage begins. */
	void (*stage)(void *ctx, enum mix_stage stage);
	/* Overall progress 0-100; never goes down. */
	void (*progress)(void *ctx, int percent);
	/* Polled between blocks; true stops the render with -ECANCELED. */
	bool (*cancelled)(void *ctx);
	/* A line for the job's log (alignment decisions, mastering passes). */
	void (*log)(void *ctx, const char *line);
	void *ctx;
};

/* Where a mix goes: the plain name @name in the folder @dirfd; @path
 * names it in messages. */
struct mix_target {
	int dirfd;
	const char *name;
	const char *path;
};

/*
 * Render @plan from the stems in the folder @stems_fd into @out (written to
 * a temp name beside it and renamed, so a partial file is never visible).
 * A stem is a file named in that folder: symlinks are refused, never
 * followed. Returns 0 with @res filled, or a negative errno with a
 * one-line message in @err:
 *   -ECANCELED  cancelled (no file left behind)
 *   -EINVAL     a stem or the plan is unusable; @err names the file
 *   other       an I/O error, naming the path
 */
int mix_render(const struct plan *plan, int stems_fd, const struct mix_target *out,
	       const struct mix_callbacks *cb, struct mix_result *res,
	       char *err, size_t errlen);

/* The name of a stage as the job states spell it ("loading_stems", ...). */
const char *mix_stage_name(enum mix_stage s);

#endif
