/*
 * pipeline.c - mix_render(): the stages of mix.h, in order.
 *
 * Between mixing and export the mix lives in an unnamed temp file beside
 * the output (render_impl.h): left and right per frame, then per group of
 * four frames their highest true peak (4x oversampled) and summed
 * K-weighted power. Mastering then needs only sequential reads of it:
 *   1. integrated loudness L0 of the plain mix (measured while mixing)
 *   2. gain G = target - L0; if G puts no true peak over the ceiling, the
 *      loudness is exactly L0 + G and no search is needed
 *   3. otherwise run the limiter's gain alone over the stored peaks at G,
 *      predict the loudness from the stored powers, and correct G until
 *      the prediction is within MASTER_TOL_LU (a limiter costs loudness)
 *   4. export at G, measuring what was written; if its true peak is over
 *      the ceiling, widen the safety margin and go back to 3; if its
 *      loudness is not what was predicted (a limiter pumping deep bass
 *      moves within the K-weighting's reach), search on from there with
 *      the limited audio itself, K-weighted pass by pass, and export again
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_impl.h"
#include "render_impl.h"
#include "mixfs/mix.h"


/* ---- loading ---- */

static bool is_audio_name(const char *name)
{
	static const char *const exts[] = { "wav", "wave", "flac", "aif", "aiff", "aifc", "ogg",
					    "oga", "opus", "caf", "w64", "rf64", "au", "snd",
					    "mp3", NULL };
	const char *dot = strrchr(name, '.');

	for (const char *const *e = exts; dot && *e; e++)
		if (strcasecmp(dot + 1, *e) == 0)
			return true;
	return false;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct plan_stem *)a)->file, ((const struct plan_stem *)b)->file);
}

/* "{}" means every audio file in stems/ but the reference, at defaults. */
static int list_all_stems(struct render *r, int stems_fd)
{
	int fd = fcntl(stems_fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		snprintf(r->err, AUDIO_ERR_MAX, "stems/: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	rewinddir(d);
	r->list = calloc(MIX_MAX_STEMS, sizeof(*r->list));
	while (r->list && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !is_audio_name(e->d_name) ||
		    strcmp(e->d_name, r->plan->reference) == 0)
			continue;
		if (r->n == MIX_MAX_STEMS) {
			closedir(d);
			snprintf(r->err, AUDIO_ERR_MAX, "stems/ holds more than %d audio files",
				 MIX_MAX_STEMS);
			return -EINVAL;
		}
		snprintf(r->list[r->n++].file, PLAN_NAME_MAX + 1, "%s", e->d_name);
	}
	closedir(d);
	if (!r->list)
		return -ENOMEM;
	if (!r->n) {
		snprintf(r->err, AUDIO_ERR_MAX, "stems/ holds no audio files");
		return -EINVAL;
	}
	qsort(r->list, r->n, sizeof(*r->list), by_name);
	return 0;
}

static int load_stems(struct render *r, int stems_fd, struct stem *ref)
{
	int rc = 0;

	if (r->plan->all_stems) {
		if ((rc = list_all_stems(r, stems_fd)))
			return rc;
	} else {
		if (r->plan->n_stems > MIX_MAX_STEMS) {
			snprintf(r->err, AUDIO_ERR_MAX, "more than %d stems", MIX_MAX_STEMS);
			return -EINVAL;
		}
		r->list = malloc(sizeof(*r->list) * r->plan->n_stems);
		if (!r->list)
			return -ENOMEM;
		memcpy(r->list, r->plan->stems, sizeof(*r->list) * r->plan->n_stems);
		r->n = r->plan->n_stems;
	}
	r->in = calloc(r->n, sizeof(*r->in));
	r->gain = calloc(r->n, sizeof(*r->gain));
	r->offset = calloc(r->n, sizeof(*r->offset));
	r->fx = calloc(r->n, sizeof(*r->fx));
	if (!r->in || !r->gain || !r->offset || !r->fx)
		return -ENOMEM;
	for (size_t i = 0; i < r->n && !rc; i++) {
		rc = stem_open(&r->in[i], stems_fd, r->list[i].file, r->err);
		if (!rc && r->in[i].info.samplerate > r->rate && !r->plan->sample_rate)
			r->rate = r->in[i].info.samplerate;
		r_progress(r, (double)i + 1, (double)r->n);
		if (!rc)
			rc = r_cancelled(r);
	}
	if (!rc && r->plan->align == PLAN_ALIGN_AUTO)
		rc = stem_open(ref, stems_fd, r->plan->reference, r->err);
	return rc;
}

/* ---- aligning ---- */

static int align_stems(struct render *r, struct stem *ref)
{
	int64_t window = llround(r->plan->align_window_ms * r->rate / 1000.0);
	int rc = 0;

	if (r->plan->align == PLAN_ALIGN_AUTO)
		rc = stem_start(ref, r->rate, r->err);
	for (size_t i = 0; i < r->n && !rc; i++) {
		struct align_result a;

		r->offset[i] = llround(r->list[i].offset_ms * r->rate / 1000.0);
		if ((rc = stem_start(&r->in[i], r->rate, r->err)))
			break;
		if (r->plan->align == PLAN_ALIGN_AUTO) {
			rc = align_refine(&r->in[i], ref, r->offset[i], window, &a, r->err);
			if (rc)
				break;
			if (a.refined)
				r_log(r, "align %s: %+.3f ms from the given offset (peak %.1fx the runner-up)",
				      r->list[i].file, (double)(a.offset - r->offset[i]) * 1000.0 / r->rate,
				      a.confidence);
			else
				r_log(r, "align %s: no clear match against %s (peak %.2fx the runner-up); kept the given offset",
				      r->list[i].file, r->plan->reference, a.confidence);
			r->offset[i] = a.offset;
			rc = stem_start(&r->in[i], r->rate, r->err);
		}
		r_progress(r, (double)i + 1, (double)r->n);
		if (!rc)
			rc = r_cancelled(r);
	}
	return rc;
}

/* ---- processing: each stem's chain (SPEC 7a), then gains by the pan law
 * of SPEC section 8 ---- */

static int track_chains(struct render *r)
{
	int rc = 0;

	for (size_t i = 0; i < r->n && !rc; i++)
		rc = trackfx_init(&r->fx[i], &r->list[i], i, r->rate, r->in[i].info.channels,
				  r->in[i].out_frames, r->err);
	return rc;
}

static void track_gains(struct render *r)
{
	bool any_solo = false;

	for (size_t i = 0; i < r->n; i++)
		any_solo |= r->list[i].solo;
	r->length = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct plan_stem *s = &r->list[i];
		double g = pow(10.0, s->gain_db / 20.0);
		double t = (s->pan + 1.0) * M_PI / 4.0;
		bool silent = s->mute || (any_solo && !s->solo);

		if (r->in[i].info.channels == 1) {
			r->gain[i][0] = (float)(g * cos(t));
			r->gain[i][1] = (float)(g * sin(t));
		} else {
			r->gain[i][0] = (float)(g * fmin(1.0, M_SQRT2 * cos(t)));
			r->gain[i][1] = (float)(g * fmin(1.0, M_SQRT2 * sin(t)));
		}
		if (silent)
			r->gain[i][0] = r->gain[i][1] = 0;
		if (r->offset[i] + r->in[i].out_frames > r->length)
			r->length = r->offset[i] + r->in[i].out_frames;
	}
}

/* ---- the temp file ---- */

static int open_tmp(struct render *r, const struct mix_target *out)
{
	char tmp[UTIL_TEMP_NAME_MAX];

	r->tmp_fd = openat(out->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (r->tmp_fd >= 0)
		return 0;
	/* no O_TMPFILE here: a named file, unlinked at once */
	r->tmp_fd = util_temp_open_at(out->dirfd, "mix", tmp);
	if (r->tmp_fd < 0) {
		snprintf(r->err, AUDIO_ERR_MAX, "%s: cannot make a temp file beside it: %s",
			 out->path, strerror(-r->tmp_fd));
		return r->tmp_fd;
	}
	unlinkat(out->dirfd, tmp, 0);
	return 0;
}


/* ---- mixing ---- */

typedef float mix_v8 __attribute__((vector_size(32)));

/* acc += x scaled by (gl, gr), stereo: eight samples at a time (one AVX
 * instruction where the CPU has AVX2, picked at load time); the same
 * arithmetic as the plain loop, sample by sample. */
AUDIO_CLONES
static void add_stereo(float *acc, const float *x, long frames, float gl, float gr)
{
	const mix_v8 g = { gl, gr, gl, gr, gl, gr, gl, gr };
	long n = 2 * frames, k = 0;

	for (; k + 8 <= n; k += 8) {
		mix_v8 a, v;

		memcpy(&a, acc + k, sizeof(a));
		memcpy(&v, x + k, sizeof(v));
		a += g * v;
		memcpy(acc + k, &a, sizeof(a));
	}
	for (; k < n; k += 2) {
		acc[k] += gl * x[k];
		acc[k + 1] += gr * x[k + 1];
	}
}

/* Add stem @i's part of the block [pos, pos+n) into @acc; errors into @err. */
static int mix_stem_block(struct render *r, size_t i, int64_t pos, long n, float *acc, float *buf,
			  char *err)
{
	struct stem *s = &r->in[i];
	int64_t from = pos > r->offset[i] ? pos : r->offset[i];
	int64_t to = pos + n < r->offset[i] + s->out_frames ? pos + n : r->offset[i] + s->out_frames;
	float gl = r->gain[i][0], gr = r->gain[i][1];
	long got;

	if (from >= to || (gl == 0 && gr == 0))
		return 0;
	got = stem_read(s, buf, (long)(to - from), err);
	if (got < 0)
		return (int)got;
	if (trackfx_active(&r->fx[i]))
		trackfx_run(&r->fx[i], buf, got);
	float *a = acc + 2 * (from - pos);
	if (s->info.channels == 1) {
		for (long k = 0; k < got; k++) {
			a[2 * k] += gl * buf[k];
			a[2 * k + 1] += gr * buf[k];
		}
	} else {
		add_stereo(a, buf, got, gl, gr);
	}
	return 0;
}

/* Frames whose peak is known leave for the temp file; the last tp_delay()
 * (and up to a group's worth more) stay for the next block. */
struct peak_stage {
	struct tp_detector *det;
	float *lr;		/* held frames, left and right */
	float *peak, *power;	/* theirs */
	float *groups;		/* for a write: (peak, power) per group */
	float *peaks;		/* AUDIO_BLOCK: what the detector gave for a block */
	char err[AUDIO_ERR_MAX];	/* the sink thread's error */
	long held;		/* frames held */
	int64_t base;		/* frame of lr[0]: a multiple of TMP_GROUP */
	int64_t pushed;		/* frames given to the detector, flush included */
};

#define PEAK_HOLD (AUDIO_BLOCK + 64 + TMP_GROUP)	/* frames a peak_stage holds */

static int peak_stage_init(struct peak_stage *ps)
{
	ps->det = tp_new();
	ps->lr = malloc(sizeof(float) * 2 * PEAK_HOLD);
	ps->peak = malloc(sizeof(float) * PEAK_HOLD);
	ps->power = malloc(sizeof(float) * PEAK_HOLD);
	ps->groups = malloc(sizeof(float) * 2 * (PEAK_HOLD / TMP_GROUP + 1));
	ps->peaks = malloc(sizeof(float) * AUDIO_BLOCK);
	return ps->det && ps->lr && ps->peak && ps->power && ps->groups && ps->peaks ? 0 : -ENOMEM;
}

static void peak_stage_free(struct peak_stage *ps)
{
	tp_free(ps->det);
	free(ps->lr);
	free(ps->peak);
	free(ps->power);
	free(ps->groups);
	free(ps->peaks);
}

/* Run @n frames through the detector and put each peak that comes out
 * with the frame it belongs to, tp_delay() frames back. */
static void peak_detect(struct render *r, struct peak_stage *ps, const float *frames, long n)
{
	/* peaks[k] is frame pushed + k - delay's; the first few pushes have
	 * none (negative), and the flush's run past the held frames */
	int64_t first = ps->pushed - tp_delay() - ps->base;	/* where peaks[0] goes */
	long from = first < 0 ? (long)-first : 0;
	long to = first + n > ps->held ? (long)(ps->held - first) : n;
	float top = r->peak_max;

	tp_run(ps->det, frames, n, ps->peaks);
	ps->pushed += n;
	for (long k = from; k < to; k++) {
		ps->peak[first + k] = ps->peaks[k];
		top = fmax_f(top, ps->peaks[k]);
	}
	r->peak_max = top;
}

/* Write the first @ready frames held, and their groups. */
static int peak_write(struct render *r, struct peak_stage *ps, long ready)
{
	long ng = (ready + TMP_GROUP - 1) / TMP_GROUP;

	for (long g = 0; g < ng; g++) {
		float pk = 0, pw = 0;

		for (long k = g * TMP_GROUP; k < (g + 1) * TMP_GROUP && k < ready; k++) {
			pk = fmax_f(pk, ps->peak[k]);
			pw += ps->power[k];
		}
		ps->groups[2 * g] = pk;
		ps->groups[2 * g + 1] = pw;
	}
	if (tmp_frames(r, true, ps->lr, ps->base, ready, ps->err) ||
	    tmp_groups(r, true, ps->groups, ps->base, ready, ps->err))
		return -EIO;
	return 0;
}

static int peak_push(struct render *r, struct peak_stage *ps, const float *acc, const float *power,
		     long n, bool last)
{
	static const float flush[2 * 64];
	long d = tp_delay(), ready, keep;

	memcpy(ps->lr + 2 * ps->held, acc, sizeof(float) * 2 * (size_t)n);
	memcpy(ps->power + ps->held, power, sizeof(float) * (size_t)n);
	ps->held += n;
	peak_detect(r, ps, acc, n);
	if (last)
		peak_detect(r, ps, flush, d);
	/* whole groups only, but at the end */
	ready = last ? ps->held : (ps->held > d ? (ps->held - d) / TMP_GROUP * TMP_GROUP : 0);
	if (ready && peak_write(r, ps, ready))
		return -EIO;
	keep = ps->held - ready;
	memmove(ps->lr, ps->lr + 2 * ready, sizeof(float) * 2 * (size_t)keep);
	memmove(ps->peak, ps->peak + ready, sizeof(float) * (size_t)keep);
	memmove(ps->power, ps->power + ready, sizeof(float) * (size_t)keep);
	ps->held = keep;
	ps->base += ready;
	return 0;
}

/* The mix pass's back half, on the stage thread: the K-weighted power and
 * loudness of the plain mix, true peaks, and the temp file. */
struct mix_sink {
	struct render *r;
	struct kweight kw;
	struct lsums sums;
	float *power;		/* one block's K-weighted power */
	struct peak_stage ps;
	int64_t consumed;
};

static int mix_sink_fn(void *ctx, const float *frames, long n)
{
	struct mix_sink *k = ctx;

	kweight_run(&k->kw, frames, n, k->power, &k->sums);
	k->consumed += n;
	return peak_push(k->r, &k->ps, frames, k->power, n, k->consumed >= k->r->length);
}

/*
 * The stems one thread mixes into a block. The render thread and a helper
 * each take a fixed share (split_stems), each summing its stems in order,
 * and the helper's sum is added last: the result depends on the plan only.
 */
struct mix_share {
	struct render *r;
	size_t *stems;		/* owned: indices into r->in, ascending */
	size_t n;
	int64_t pos;		/* the block */
	long frames;
	float *acc;		/* 2 * AUDIO_BLOCK */
	float *buf;		/* owned: one stem's block */
	char err[AUDIO_ERR_MAX];
	int rc;
};

static void mix_share_run(void *arg)
{
	struct mix_share *m = arg;

	memset(m->acc, 0, sizeof(float) * 2 * (size_t)m->frames);
	m->rc = 0;
	for (size_t k = 0; k < m->n && !m->rc; k++)
		m->rc = mix_stem_block(m->r, m->stems[k], m->pos, m->frames, m->acc, m->buf, m->err);
}

/* What decoding stem @i costs, roughly: per channel, three times as much
 * when resampled, twice with processing; nothing when silent. */
static double stem_cost(const struct render *r, size_t i)
{
	double c = r->in[i].info.channels;

	if (r->gain[i][0] == 0 && r->gain[i][1] == 0)
		return 0;
	if (r->in[i].rs)
		c *= 3;
	if (trackfx_active(&r->fx[i]))
		c *= 2;
	return c;
}

static int by_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* Share the stems between two threads: costliest first, each to the
 * lighter side. */
static int split_stems(struct render *r, struct mix_share *sh)
{
	double load[2] = { 0, 0 };
	size_t *order = malloc(sizeof(size_t) * r->n);

	for (int s = 0; s < 2; s++)
		sh[s].stems = malloc(sizeof(size_t) * r->n);
	if (!order || !sh[0].stems || !sh[1].stems) {
		free(order);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->n; i++)
		order[i] = i;
	for (size_t i = 1; i < r->n; i++)	/* by cost, descending; n <= 64 */
		for (size_t k = i; k > 0 && stem_cost(r, order[k]) > stem_cost(r, order[k - 1]); k--) {
			size_t t = order[k];

			order[k] = order[k - 1];
			order[k - 1] = t;
		}
	for (size_t k = 0; k < r->n; k++) {
		int side = load[1] < load[0];

		if (stem_cost(r, order[k]) == 0)
			side = 0;
		sh[side].stems[sh[side].n++] = order[k];
		load[side] += stem_cost(r, order[k]);
	}
	free(order);
	for (int s = 0; s < 2; s++)
		qsort(sh[s].stems, sh[s].n, sizeof(size_t), by_index);
	return 0;
}

/* One block: the helper's share (if any) beside the render thread's. */
static int mix_block(struct render *r, struct helper *h, struct mix_share *sh, int64_t pos, long n,
		     float *acc)
{
	for (int s = 0; s < 2; s++) {
		sh[s].pos = pos;
		sh[s].frames = n;
	}
	sh[0].acc = acc;
	if (h)
		helper_run(h, mix_share_run, &sh[1]);
	mix_share_run(&sh[0]);
	if (h)
		helper_wait(h);
	for (int s = 0; s < 2; s++)
		if (sh[s].rc) {
			snprintf(r->err, AUDIO_ERR_MAX, "%s", sh[s].err);
			return sh[s].rc;
		}
	for (long k = 0; h && k < 2 * n; k++)
		acc[k] += sh[1].acc[k];
	return 0;
}

/* Mix every stem into the temp file; measures the plain mix's loudness
 * (r->l0) and true peak (r->peak_max). */
static int mix_all(struct render *r)
{
	struct mix_sink k = { .r = r };
	struct mix_share sh[2] = { { .r = r }, { .r = r } };
	struct helper *h = NULL;
	struct stage *st = NULL;
	int rc = lsums_init(&k.sums, r->rate, r->length), rc2;

	kweight_init(&k.kw, r->rate);
	k.power = malloc(sizeof(float) * AUDIO_BLOCK);
	for (int s = 0; s < 2; s++)
		sh[s].buf = malloc(sizeof(float) * AUDIO_BLOCK * 2);
	sh[1].acc = malloc(sizeof(float) * AUDIO_BLOCK * 2);
	if (rc || !k.power || peak_stage_init(&k.ps) || !sh[0].buf || !sh[1].buf ||
	    !sh[1].acc || split_stems(r, sh) || (sh[1].n && helper_start(&h)) ||
	    stage_start(&st, AUDIO_BLOCK, mix_sink_fn, &k))
		rc = -ENOMEM;
	for (int64_t pos = 0; !rc && pos < r->length; pos += AUDIO_BLOCK) {
		long n = r->length - pos < AUDIO_BLOCK ? (long)(r->length - pos) : AUDIO_BLOCK;
		float *acc = stage_slot(st);

		if (!acc)
			break; /* the sink failed; stage_finish says how */
		if (!(rc = mix_block(r, h, sh, pos, n, acc)))
			stage_commit(st, n);
		if (!rc)
			rc = r_cancelled(r);
		r_progress(r, (double)(pos + n), (double)r->length);
	}
	helper_stop(h);
	if (st && (rc2 = stage_finish(st)) && !rc) {
		rc = rc2;
		snprintf(r->err, AUDIO_ERR_MAX, "%s", k.ps.err);
	}
	r->l0 = lsums_integrated(&k.sums);
	lsums_free(&k.sums);
	for (int s = 0; s < 2; s++) {
		free(sh[s].buf);
		free(sh[s].stems);
	}
	free(sh[1].acc);
	free(k.power);
	peak_stage_free(&k.ps);
	return rc;
}

static void render_free(struct render *r, struct stem *ref)
{
	for (size_t i = 0; r->in && i < r->n; i++)
		stem_close(&r->in[i]);
	stem_close(ref);
	free(r->in);
	free(r->gain);
	free(r->fx);
	free(r->offset);
	free(r->list);
	if (r->tmp_fd >= 0)
		close(r->tmp_fd);
}

static int render_run(struct render *r, int stems_fd, const struct mix_target *out,
		      struct stem *ref, struct mix_result *res)
{
	int rc;

	r_stage(r, MIX_LOADING);
	if ((rc = load_stems(r, stems_fd, ref)))
		return rc;
	r_stage(r, MIX_ALIGNING);
	if ((rc = align_stems(r, ref)))
		return rc;
	r_stage(r, MIX_PROCESSING);
	if ((rc = track_chains(r)))
		return rc;
	track_gains(r);
	if (r->length == 0) {
		snprintf(r->err, AUDIO_ERR_MAX, "every stem is empty: nothing to mix");
		return -EINVAL;
	}
	if ((rc = open_tmp(r, out)))
		return rc;
	r_progress(r, 1, 1);
	r_stage(r, MIX_MIXING);
	if ((rc = mix_all(r)))
		return rc;
	r_log(r, "mixed %zu stems: %.2f s at %d Hz, %.2f LUFS, true peak %.2f dBTP", r->n,
	      (double)r->length / r->rate, r->rate, r->l0, db(r->peak_max));
	if ((rc = master_and_export(r, out, res)))
		return rc;
	res->duration_s = (double)r->length / r->rate;
	res->sample_rate = r->rate;
	res->channels = 2;
	res->n_stems = r->n;
	for (size_t i = 0; i < r->n; i++)
		res->offsets_ms[i] = (double)r->offset[i] * 1000.0 / r->rate;
	r_progress(r, 1, 1);
	return 0;
}

int mix_render(const struct plan *plan, int stems_fd, const struct mix_target *out,
	       const struct mix_callbacks *cb, struct mix_result *res,
	       char *err, size_t errlen)
{
	char msg[AUDIO_ERR_MAX] = "";
	struct render r = { .plan = plan, .cb = cb, .err = msg, .tmp_fd = -1,
			    .rate = plan->sample_rate };
	struct stem ref = { 0 };
	int rc;

	memset(res, 0, sizeof(*res));
	FPU_FAST_ENTER();
	rc = render_run(&r, stems_fd, out, &ref, res);
	FPU_FAST_LEAVE();
	render_free(&r, &ref);
	if (rc) {
		if (!msg[0])
			snprintf(msg, sizeof(msg), "%s", strerror(-rc));
		snprintf(err, errlen, "%s", msg);
	}
	return rc;
}
