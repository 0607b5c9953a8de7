/*
 * audio_impl.h - the engine's internal parts, shared by the files of src/audio only.
 */
#ifndef MIXFS_AUDIO_IMPL_H
#define MIXFS_AUDIO_IMPL_H

#include <sndfile.h>
#include <soxr.h>
#include <stdbool.h>
#include <stdint.h>

#include "mixfs/mix.h"
#include "mixfs/plan.h"
#include "mixfs/util.h"

#define AUDIO_BLOCK 16384	/* frames per block, every stage */

#if defined(__SSE__)
#include <xmmintrin.h>
/* Denormals in filter tails and the limiter's release cost 100x a normal
 * multiply; every thread that runs audio flushes them to zero (FTZ) and
 * treats them as zero (DAZ), and restores its mode after. */
#define FPU_FAST_ENTER() unsigned fpu_saved = _mm_getcsr(); _mm_setcsr(fpu_saved | 0x8040)
#define FPU_FAST_LEAVE() _mm_setcsr(fpu_saved)
#else
#define FPU_FAST_ENTER() do { } while (0)
#define FPU_FAST_LEAVE() do { } while (0)
#endif
/* Hot loops are built twice, for AVX2 and for any x86-64, and the one
 * the CPU can run is picked at load time. Not under ThreadSanitizer: the
 * picking runs before its runtime is up, and crashes. */
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define AUDIO_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AUDIO_CLONES
#endif
#define AUDIO_ERR_MAX 256

/* ---- stem.c: one input file, delivered at the output rate ---- */

struct stem {
	char name[PLAN_NAME_MAX + 1];
	SNDFILE *sf;		/* reads from fd, which it does not close */
	int fd;
	bool has_fd;		/* fd is ours to close */
	SF_INFO info;		/* rate, channels, frames as the file says */
	int out_rate;
	int64_t out_frames;	/* exact length at out_rate: round(n*out/in) */
	int64_t delivered;	/* frames handed out so far */
	int64_t read_in;	/* input frames read so far */
	soxr_t rs;		/* NULL when no resampling is needed */
	float *in_buf;		/* owned: one block of input */
	int failed;		/* set by the input callback on a read error */
};

/* Sample rates a stem may have: the range a request's sample_rate takes. */
#define STEM_RATE_MIN 8000
#define STEM_RATE_MAX 384000

/* Open the stem @name in the folder @stems_fd: a regular file, not a
 * symlink. Checks it is audio, mono or stereo, within the rates above, and
 * not truncated. Returns 0, or -EINVAL / -errno with @err naming the file. */
int stem_open(struct stem *s, int stems_fd, const char *name, char *err);
/* (Re)start delivery from the beginning at @out_rate. */
int stem_start(struct stem *s, int out_rate, char *err);
/* Deliver up to @frames interleaved frames (the stem's own channel count)
 * into @dst. Returns the number delivered (0 at the end), or -EIO with
 * @err naming the file (a short read: the file is truncated). */
long stem_read(struct stem *s, float *dst, long frames, char *err);
void stem_close(struct stem *s);

/* ---- align.c: GCC-PHAT refinement of one offset ---- */

struct align_result {
	int64_t offset;		/* samples at the output rate */
	double confidence;	/* best peak / runner-up */
	bool refined;		/* false: the given offset was kept */
};

/* Refine @given (output-rate samples) for @stem against @reference, both
 * started at the same rate, within +-@window samples. */
int align_refine(struct stem *stem, struct stem *reference, int64_t given,
		 int64_t window, struct align_result *out, char *err);

/* ---- limiter.c: true-peak detection and a look-ahead limiter ---- */

/* Streaming 4x-oversampled peak detector for stereo frames. Each pushed
 * frame yields, after a fixed delay, the true peak of the interval that
 * starts at an earlier frame. */
struct tp_detector;
struct tp_detector *tp_new(void);
void tp_free(struct tp_detector *d);
/* Frames of delay between a push and its peak coming out. */
int tp_delay(void);
/* Push one frame; returns the peak (linear) of frame n - tp_delay(), or a
 * negative value while the pipeline fills. */
float tp_push(struct tp_detector *d, float l, float r);
/* Push @n interleaved stereo frames at once: @peaks gets what tp_push()
 * would have returned for each, bit for bit, at a fraction of the cost. */
void tp_run(struct tp_detector *d, const float *frames, long n, float *peaks);

/* Channel-linked look-ahead limiter: output frame j leaves once frame
 * j + lookahead has been pushed. The gain it applies at a frame is never
 * above ceiling / peak for any frame within the look-ahead. */
struct limiter;
struct limiter *limiter_new(int rate, double lookahead_ms, double release_ms);
void limiter_free(struct limiter *lim);
int limiter_lookahead(const struct limiter *lim);
/* Blocks of frames at once: @lr interleaved left and right, @peak each
 * frame's true peak, all scaled by @g and limited to @ceiling (both
 * linear); frames from @in to @n are silence
 * (the flush at the end). limiter_run() puts the frames that leave into
 * @y (interleaved) and returns how many; limiter_gains() puts into @gains
 * the gain for each frame pushed's counterpart limiter_lookahead() frames
 * back, or -1 while there is none yet. */
long limiter_run(struct limiter *lim, const float *lr, const float *peak, long in, long n, float g,
		 float ceiling, float *y);
void limiter_gains(struct limiter *lim, const float *peak, long in, long n, float g, float ceiling,
		   float *gains);
/* The smallest gain applied so far (for the log). */
float limiter_min_gain(const struct limiter *lim);

/* ---- meter.c: BS.1770 loudness as sums of K-weighted power ---- */

typedef double kw_v2 __attribute__((vector_size(16)));

/* Sums of K-weighted power over consecutive 100 ms parts, the unit of
 * BS.1770's 400 ms gating blocks. Sized at init for a known length;
 * frames past it are not counted. */
struct lsums {
	long per_part;		/* frames per part: the rate / 10, rounded */
	long filled;		/* frames in the open part */
	double open;		/* their sum */
	double *part;		/* owned: the sums of the complete parts */
	size_t n, cap;
};
int lsums_init(struct lsums *s, int rate, int64_t frames);
void lsums_free(struct lsums *s);

/* The K-weighting filter for stereo frames, with its state. */
struct kweight {
	double b[2][3], a[2][2];	/* per stage: b0 b1 b2, a1 a2 */
	kw_v2 z[2][2];			/* per stage: two state values, L and R */
};
void kweight_init(struct kweight *k, int rate);
/* Filter @n interleaved stereo frames and add each frame's K-weighted
 * power (left^2 + right^2: BS.1770 weighs both front channels 1) to
 * @sums; also store it in @power unless that is NULL. */
void kweight_run(struct kweight *k, const float *frames, long n, float *power, struct lsums *sums);
/* Add @n frames' power, each scaled by the square of its @gain and by
 * @scale. */
void lsums_add_gained(struct lsums *s, const float *power, const float *gain, double scale, long n);
/* Integrated loudness (LUFS) by the absolute (-70 LUFS) and relative
 * (-10 LU) gates; -INFINITY when no block passes them. */
double lsums_integrated(const struct lsums *s);
/* Loudness range (LU) into *@lu, 0 when too short or silent; -ENOMEM. */
int lsums_range(const struct lsums *s, double *lu);

/* ---- stage.c: second threads for a pass ---- */

/*
 * The render thread produces blocks of interleaved stereo frames; a
 * consumer thread runs @fn on each, in order, so measuring and writing
 * overlap with reading, mixing and limiting on a second core. Memory is
 * STAGE_SLOTS blocks. The first error from @fn stops the consumer and is
 * returned by stage_finish().
 */
#define STAGE_SLOTS 4

struct stage;
typedef int (*stage_fn)(void *ctx, const float *frames, long n);

/* Start the consumer for blocks of up to @frames stereo frames. */
int stage_start(struct stage **out, long frames, stage_fn fn, void *ctx);
/* A free block to fill (waits while all are queued); NULL once the
 * consumer has failed. */
float *stage_slot(struct stage *s);
/* Queue the block from stage_slot() holding @n frames. */
void stage_commit(struct stage *s, long n);
/* Drain, stop and free; returns the consumer's first error or 0. */
int stage_finish(struct stage *s);

/*
 * A helper: one task at a time on a second thread, for work the render
 * thread splits in two (stems to decode, halves of a mastering pass) and
 * joins before going on.
 */
struct helper;
typedef void (*helper_fn)(void *arg);
int helper_start(struct helper **out);
/* Start @fn(@arg) on the helper, which must be idle. */
void helper_run(struct helper *h, helper_fn fn, void *arg);
/* Wait until the task given last is done. */
void helper_wait(struct helper *h);
/* Wait, stop the thread and free; NULL is fine. */
void helper_stop(struct helper *h);

/* ---- export.c: the output file ---- */

struct exporter;
/* Create a temp file beside @target for @frames stereo frames in the
 * plan's format (RF64 when a WAV would pass 4 GiB), with the room a WAV
 * needs reserved (-ENOSPC now rather than at the end). */
int export_open(struct exporter **out, const struct mix_target *target,
		const struct plan *plan, int rate, int64_t frames, char *err);
/* Write interleaved stereo float frames, converting to the format:
 * TPDF dither at 16 bits, clipping (never wrapping) for integers. */
int export_write(struct exporter *e, const float *frames, long n, char *err);
/* Close and rename into place. */
int export_commit(struct exporter *e, char *err);
/* Close and remove the temp file (any failure path). */
void export_abort(struct exporter *e);

#endif
