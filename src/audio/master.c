/*
 * master.c - mastering and export: the loudness a gain would give,
 * predicted from the temp file's peaks and powers (or, when a prediction
 * missed, measured by passes through the limiter and the meter), a search
 * for the gain that lands on the target, and the one pass that limits the
 * mix into the output file and measures it. See render_impl.h and the
 * outline at the top of pipeline.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_impl.h"
#include "render_impl.h"

#define MASTER_TOL_LU 0.02	/* the search's, on predicted loudness */
#define MASTER_EXPORT_TOL_LU 0.05	/* the export's measurement against the prediction */
#define MASTER_EXPORTS 4
#define MASTER_MAX_PASSES 10
#define LIMIT_MARGIN_DB 0.15	/* the limiter aims this far under the ceiling */
#define LIMIT_LOOKAHEAD_MS 2.0
#define LIMIT_RELEASE_MS 80.0
#define NORMALIZE_MARGIN_DB 0.1	/* under the ceiling, so other meters agree */

struct pass_out {
	double lufs;
	double lra;		/* the export pass's loudness range */
	float true_peak;	/* of what left the limiter, 4x oversampled */
	float min_gain;
};

/* A pass's back half, on stage threads: one measures loudness and the
 * true peak of what was written, another writes the file (an export) */
struct pass_sink {
	struct render *r;
	struct kweight kw;
	struct lsums sums;		/* of what was written */
	struct tp_detector *det;	/* NULL in a measuring pass */
	float *peaks;			/* AUDIO_BLOCK, for the detector's output */
	struct stage *writer;		/* NULL in a measuring pass */
	struct exporter *ex;
	float true_peak;
	char err[AUDIO_ERR_MAX];	/* the writer's error */
};

static int pass_write_fn(void *ctx, const float *y, long m)
{
	struct pass_sink *k = ctx;

	return export_write(k->ex, y, m, k->err);
}

static int pass_sink_fn(void *ctx, const float *y, long m)
{
	struct pass_sink *k = ctx;

	if (k->writer) {
		float *w = stage_slot(k->writer);

		if (!w)
			return -EIO;	/* the writer failed; its stage says how */
		memcpy(w, y, sizeof(float) * 2 * (size_t)m);
		stage_commit(k->writer, m);
	}
	kweight_run(&k->kw, y, m, NULL, &k->sums);
	if (!k->det)
		return 0;
	tp_run(k->det, y, m, k->peaks);
	for (long i = 0; i < m; i++)
		k->true_peak = fmax_f(k->true_peak, k->peaks[i]);
	return 0;
}

/* Read the block [@pos, @pos + @in) of the temp file: its frames, and
 * unless @peak is NULL each frame's peak (its group's). */
static int read_block(struct render *r, int64_t pos, long in, float *lr, float *groups, float *peak,
		      char *err)
{
	int rc = lr ? tmp_frames(r, false, lr, pos, in, err) : 0;

	if (rc || !peak)
		return rc;
	if ((rc = tmp_groups(r, false, groups, pos, in, err)))
		return rc;
	for (long k = 0; k < in; k++)
		peak[k] = groups[2 * (k / TMP_GROUP)];
	return 0;
}

/* Feed one block through gain and limiter into @y; returns the frames
 * that left the limiter. */
static long pass_block(const float *lr, const float *peak, long in, long n, float g,
		       struct limiter *lim, float ceiling, float *y)
{
	if (lim)
		return limiter_run(lim, lr, peak, in, n, g, ceiling, y);
	for (long k = 0; k < 2 * in; k++)
		y[k] = lr[k] * g;
	return in;
}

/*
 * One pass over the temp file at @gain (linear) through the limiter at
 * @ceiling (linear; <= 0 means no limiter), measuring what leaves it: its
 * loudness and loudness range, and with @ex (the export, which it writes)
 * its true peak.
 */
static int master_pass(struct render *r, double gain, float ceiling, struct exporter *ex,
		       struct pass_out *out)
{
	struct pass_sink k = { .r = r, .ex = ex, .det = ex ? tp_new() : NULL,
			       .peaks = ex ? malloc(sizeof(float) * AUDIO_BLOCK) : NULL };
	struct limiter *lim = ceiling > 0 ? limiter_new(r->rate, LIMIT_LOOKAHEAD_MS, LIMIT_RELEASE_MS) : NULL;
	float *lr = malloc(sizeof(float) * 2 * AUDIO_BLOCK);
	float *groups = malloc(sizeof(float) * 2 * (AUDIO_BLOCK / TMP_GROUP));
	float *peak = lim ? malloc(sizeof(float) * AUDIO_BLOCK) : NULL;
	int64_t tail = lim ? limiter_lookahead(lim) : 0;
	struct stage *st = NULL;
	int rc = lsums_init(&k.sums, r->rate, r->length), rc2;

	kweight_init(&k.kw, r->rate);
	if (rc || (ex && (!k.det || !k.peaks)) || (ceiling > 0 && (!lim || !peak)) || !lr || !groups ||
	    (ex && stage_start(&k.writer, AUDIO_BLOCK, pass_write_fn, &k)) ||
	    stage_start(&st, AUDIO_BLOCK, pass_sink_fn, &k))
		rc = -ENOMEM;
	for (int64_t pos = 0; !rc && pos < r->length + tail; pos += AUDIO_BLOCK) {
		long n = r->length + tail - pos < AUDIO_BLOCK ? (long)(r->length + tail - pos) : AUDIO_BLOCK;
		long in = r->length - pos < n ? (long)(r->length - pos) : n, m;
		float *y = stage_slot(st);

		if (!y)
			break;
		if (in > 0 && (rc = read_block(r, pos, in, lr, groups, peak, r->err)))
			break;
		m = pass_block(lr, peak, in, n, (float)gain, lim, ceiling, y);
		stage_commit(st, m);
		rc = r_cancelled(r);
		if (ex)
			r_progress(r, (double)(pos + n), (double)(r->length + tail));
	}
	if (st && (rc2 = stage_finish(st)) && !rc)
		rc = rc2;
	if (k.writer && (rc2 = stage_finish(k.writer)) && (!rc || rc == -EIO)) {
		rc = rc2;
		snprintf(r->err, AUDIO_ERR_MAX, "%s", k.err);
	}
	for (int i = 0; k.det && i < tp_delay(); i++)
		k.true_peak = fmax_f(k.true_peak, tp_push(k.det, 0, 0));
	out->true_peak = k.true_peak;
	out->lufs = -INFINITY;
	out->lra = 0;
	if (!rc) {
		out->lufs = lsums_integrated(&k.sums);
		rc = lsums_range(&k.sums, &out->lra);
	}
	out->min_gain = lim ? limiter_min_gain(lim) : 1;
	lsums_free(&k.sums);
	limiter_free(lim);
	tp_free(k.det);
	free(k.peaks);
	free(lr);
	free(groups);
	free(peak);
	return rc;
}

/* One stretch of a prediction: the powers of frames [from, to) summed at
 * the gains the limiter gives them, its run started @warm frames early. */
struct predict_part {
	struct render *r;
	float gain, ceiling;
	int64_t from, to, warm;
	struct lsums sums;	/* the parts of [from, to); from is on a part's start */
	float min_gain;
	char err[AUDIO_ERR_MAX];
	int rc;
};

static void predict_part_run(void *arg)
{
	struct predict_part *p = arg;
	struct render *r = p->r;
	struct limiter *lim = limiter_new(r->rate, LIMIT_LOOKAHEAD_MS, LIMIT_RELEASE_MS);
	int L = lim ? limiter_lookahead(lim) : 0;
	/* the power of frame pos + k - L, the one gains[k] is for, is pw[k] */
	float *pw = calloc((size_t)L + AUDIO_BLOCK, sizeof(float));
	float *groups = malloc(sizeof(float) * 2 * (AUDIO_BLOCK / TMP_GROUP));
	float *peak = malloc(sizeof(float) * AUDIO_BLOCK), *gains = malloc(sizeof(float) * AUDIO_BLOCK);
	/* frames pushed; reads start on a group */
	int64_t start = (p->from - p->warm) / TMP_GROUP * TMP_GROUP, end = p->to + L;

	p->rc = lim && pw && groups && peak && gains ? 0 : -ENOMEM;
	for (int64_t pos = start; !p->rc && pos < end; pos += AUDIO_BLOCK) {
		long n = end - pos < AUDIO_BLOCK ? (long)(end - pos) : AUDIO_BLOCK;
		long in = r->length - pos < n ? (long)(r->length - pos) : n;
		long first = p->from + L - pos > 0 ? (long)(p->from + L - pos) : 0;

		if (in > 0 && (p->rc = read_block(r, pos, in, NULL, groups, peak, p->err)))
			break;
		limiter_gains(lim, peak, in, n, p->gain, p->ceiling, gains);
		/* a group's power, spread evenly over its frames */
		for (long k = 0; k < n; k++) {
			int64_t g0 = (pos + k) / TMP_GROUP * TMP_GROUP;
			int64_t size = r->length - g0 < TMP_GROUP ? r->length - g0 : TMP_GROUP;

			pw[L + k] = k < in ? groups[2 * (k / TMP_GROUP) + 1] / (float)size : 0;
		}
		if (first < n)
			lsums_add_gained(&p->sums, pw + first, gains + first,
					 (double)p->gain * p->gain, n - first);
		memmove(pw, pw + n, sizeof(float) * (size_t)L);
	}
	p->min_gain = lim ? limiter_min_gain(lim) : 1;
	limiter_free(lim);
	free(pw);
	free(groups);
	free(peak);
	free(gains);
}

/* Stretches shorter than this are not split. */
#define PREDICT_SPLIT_S 20
/* How long the second half's limiter runs before its frames count: its
 * release (80 ms) has then forgotten the start some 12 times over. */
#define PREDICT_WARM_S 1

/*
 * The loudness the limiter would give at @gain and @ceiling, without
 * touching audio: the limiter's gain alone, run over the stored true
 * peaks, scales each frame's stored K-weighted power. The gain moves over
 * milliseconds, slowly beside the K-weighting, so K(g x) is g K(x) to
 * within a few hundredths of an LU; the export measures the real output
 * and corrects a miss. A long mix is predicted in two halves at once, the
 * second one's limiter started a second early.
 */
static int predict_pass(struct render *r, double gain, float ceiling, struct pass_out *out)
{
	struct predict_part p[2] = {
		{ .r = r, .gain = (float)gain, .ceiling = ceiling, .to = r->length },
		{ .r = r, .gain = (float)gain, .ceiling = ceiling, .to = r->length },
	};
	long per_part = (r->rate + 5) / 10;
	bool split = r->length >= (int64_t)PREDICT_SPLIT_S * r->rate;
	struct helper *h = NULL;
	int rc;

	if (split) {
		p[0].to = p[1].from = r->length / 2 / per_part * per_part;
		p[1].warm = (int64_t)PREDICT_WARM_S * r->rate;
	}
	/* the first half's sums are sized for the whole, the second's are
	 * appended to them */
	rc = lsums_init(&p[0].sums, r->rate, r->length);
	if (!rc && split)
		rc = lsums_init(&p[1].sums, r->rate, p[1].to - p[1].from);
	if (!rc && split)
		rc = helper_start(&h);
	if (!rc) {
		if (h)
			helper_run(h, predict_part_run, &p[1]);
		predict_part_run(&p[0]);
		helper_stop(h);
		for (int k = 0; k < 1 + split && !rc; k++)
			if ((rc = p[k].rc))
				snprintf(r->err, AUDIO_ERR_MAX, "%s", p[k].err);
	}
	out->lufs = -INFINITY;
	out->min_gain = split ? fmin_f(p[0].min_gain, p[1].min_gain) : p[0].min_gain;
	if (!rc) {
		for (size_t i = 0; i < p[1].sums.n && p[0].sums.n < p[0].sums.cap; i++)
			p[0].sums.part[p[0].sums.n++] = p[1].sums.part[i];
		out->lufs = lsums_integrated(&p[0].sums);
		rc = r_cancelled(r);
	}
	for (int k = 0; k < 2; k++)
		lsums_free(&p[k].sums);
	return rc;
}

/* Where mastering lands: the gain, whether the limiter is in, and the
 * loudness it gives (predicted, measured by an exact pass, or exact: with
 * no limiting, gain shifts loudness dB for dB). */
struct master_plan {
	double gain_db;
	bool limit;
	double lufs;
};

/* How a search measures a candidate, and where it may start. */
struct search_how {
	bool exact;		/* limit and K-weight the audio itself, not predict */
	bool seeded;		/* a point known already: */
	double seed_g, seed_l;	/* its gain and the loudness measured there */
};

/* normalize: one linear gain to the target, unless the true peak would go
 * over the ceiling (less a margin for meters that oversample otherwise):
 * then the gain that puts it there, and the target is missed. */
static int normalize(struct render *r, struct master_plan *mp)
{
	double room = r->plan->true_peak_dbtp - NORMALIZE_MARGIN_DB - db(r->peak_max);

	if (mp->gain_db <= room) {
		r_log(r, "mastering: normalize, %+.2f dB of gain meets the target", mp->gain_db);
		return 0;
	}
	r_log(r, "mastering: normalize stops at the ceiling: %+.2f dB of gain, %.2f LU short of "
	      "the target", room, mp->gain_db - room);
	mp->lufs = r->l0 + room;
	mp->gain_db = room;
	return 0;
}

/* Less loudness than this per dB of gain, and more gain only makes the
 * limiter work harder: the target is out of reach. */
#define MASTER_MIN_SLOPE 0.1

/* Whether going from gain @g0 (loudness @l0) up to @g1 (@l1) bought so
 * little that the search should stop; then @mp is the lower point. */
static bool saturated(struct render *r, double g0, double l0, double g1, double l1,
		      struct master_plan *mp)
{
	if (g1 <= g0 || l1 >= r->plan->target_lufs || (l1 - l0) / (g1 - g0) >= MASTER_MIN_SLOPE)
		return false;
	r_log(r, "mastering: %+.2f dB more gain gave %+.2f LU; the limiter cannot reach the target, "
	      "keeping %+.2f dB", g1 - g0, l1 - l0, g0);
	mp->gain_db = g0;
	mp->lufs = l0;
	return true;
}

/* The next gain to try: a secant step once two points exist (the limiter
 * makes loudness grow slower than gain), else dB for dB; never more than
 * 12 dB from the last. */
static double next_gain(double target, bool have_prev, double g0, double l0, double g1, double l1)
{
	double next = g1 + (target - l1);

	if (have_prev && l1 != l0 && g1 != g0)
		next = g1 + (target - l1) * (g1 - g0) / (l1 - l0);
	if (!isfinite(next))
		next = g1 + (target - l1);
	return fmax(g1 - 12.0, fmin(next, g1 + 12.0));
}

/* Find the gain that puts the limited mix on @target, measured as @how
 * says. */
static int master_search(struct render *r, float ceiling, const struct search_how *how,
			 struct master_plan *mp)
{
	double target = r->plan->target_lufs, g = target - r->l0, prev_g = 0, prev_l = 0;
	bool have_prev = false;
	struct pass_out po;
	int rc;

	*mp = (struct master_plan){ .gain_db = 0, .lufs = r->l0 };
	if (!r->plan->master)
		return 0;
	if (!isfinite(r->l0)) {
		r_log(r, "mastering: the mix is silent; no gain applied");
		return 0;
	}
	mp->gain_db = g;
	mp->lufs = target;
	if (r->plan->master_mode == PLAN_MASTER_NORMALIZE)
		return normalize(r, mp);
	mp->limit = pow(10.0, g / 20.0) * r->peak_max > ceiling;
	if (!mp->limit) {
		r_log(r, "mastering: %+.2f dB of gain meets the target with no limiting", g);
		return 0;
	}
	if (how->seeded) {
		prev_g = how->seed_g;
		prev_l = how->seed_l;
		have_prev = true;
		g = prev_g + (target - prev_l);
	}
	for (int pass = 1; pass <= MASTER_MAX_PASSES; pass++) {
		rc = how->exact ? master_pass(r, pow(10.0, g / 20.0), ceiling, NULL, &po)
				: predict_pass(r, pow(10.0, g / 20.0), ceiling, &po);
		if (rc)
			return rc;
		r_log(r, "mastering pass %d: gain %+.2f dB, limiter down to %.2f dB, %.2f LUFS %s",
		      pass, g, db(po.min_gain), po.lufs, how->exact ? "measured" : "predicted");
		r_progress(r, pass, MASTER_MAX_PASSES / 2.0);
		if (!isfinite(po.lufs))
			break;	/* keep the last point that measured */
		mp->gain_db = g;
		mp->lufs = po.lufs;
		if (fabs(po.lufs - target) <= MASTER_TOL_LU)
			return 0;
		if (have_prev && saturated(r, prev_g, prev_l, g, po.lufs, mp))
			return 0;
		g = next_gain(target, have_prev, prev_g, prev_l, g, po.lufs);
		prev_g = mp->gain_db;
		prev_l = mp->lufs;
		have_prev = true;
	}
	/* out of passes: export at the last gain measured */
	return 0;
}

enum export_outcome {
	EXPORT_KEPT,		/* committed: under the ceiling, on what was searched */
	EXPORT_OVER,		/* its true peak went over the ceiling */
	EXPORT_MISSED,		/* it measured other than the search said */
};

/* Export at @mp; kept when under the ceiling, and measuring what the
 * search said (or when @last: then over the ceiling is an error). */
static int export_once(struct render *r, const struct mix_target *out, const struct master_plan *mp,
		       float ceiling, bool last, struct pass_out *po, enum export_outcome *how)
{
	float ceiling_target = (float)pow(10.0, r->plan->true_peak_dbtp / 20.0);
	struct exporter *ex = NULL;
	int rc;

	r_stage(r, MIX_EXPORTING);
	if ((rc = export_open(&ex, out, r->plan, r->rate, r->length, r->err)))
		return rc;
	rc = master_pass(r, pow(10.0, mp->gain_db / 20.0), mp->limit ? ceiling : 0, ex, po);
	if (rc) {
		export_abort(ex);
		return rc;
	}
	*how = EXPORT_KEPT;
	if (mp->limit && po->true_peak > ceiling_target)
		*how = EXPORT_OVER;
	else if (mp->limit && fabs(po->lufs - mp->lufs) > MASTER_EXPORT_TOL_LU && !last)
		*how = EXPORT_MISSED;
	if (*how == EXPORT_OVER && last) {
		export_abort(ex);
		snprintf(r->err, AUDIO_ERR_MAX, "mastering: the true peak stays %.2f dB over the %.2f dBTP ceiling",
			 db(po->true_peak) - r->plan->true_peak_dbtp, r->plan->true_peak_dbtp);
		return -EIO;
	}
	if (*how == EXPORT_KEPT)
		return export_commit(ex, r->err);
	export_abort(ex);
	return 0;
}

int master_and_export(struct render *r, const struct mix_target *out,
			     struct mix_result *res)
{
	double margin = LIMIT_MARGIN_DB, target = r->plan->target_lufs;
	struct search_how how = { .exact = false };
	enum export_outcome outcome = EXPORT_MISSED;
	struct master_plan mp;
	struct pass_out po;
	int rc = 0;

	for (int attempt = 0; outcome != EXPORT_KEPT; attempt++) {
		float ceiling = (float)pow(10.0, (r->plan->true_peak_dbtp - margin) / 20.0);

		r_stage(r, MIX_MASTERING);
		if ((rc = master_search(r, ceiling, &how, &mp)))
			return rc;
		rc = export_once(r, out, &mp, ceiling, attempt + 1 == MASTER_EXPORTS, &po, &outcome);
		if (rc || outcome == EXPORT_KEPT)
			break;
		if (outcome == EXPORT_OVER) {
			margin += 0.1;
			how.seeded = false;
			r_log(r, "mastering: true peak %.2f dBTP over the ceiling; limiting %.2f dB lower",
			      db(po.true_peak), margin);
		} else {
			/* the limiter moves fast beside what K-weighting passes
			 * (deep bass, say): search on the limited audio itself,
			 * from the point the export measured */
			how = (struct search_how){ .exact = true, .seeded = true,
						   .seed_g = mp.gain_db, .seed_l = po.lufs };
			r_log(r, "mastering: the export measured %.2f LUFS where %.2f was predicted; "
			      "searching on the limited audio", po.lufs, mp.lufs);
		}
	}
	if (rc)
		return rc;
	if (mp.limit)
		r_log(r, "mastering: the export measured %.3f LUFS, the search %.3f", po.lufs, mp.lufs);
	res->integrated_lufs = po.lufs;
	res->true_peak_dbtp = po.true_peak > 0 ? db(po.true_peak) : -INFINITY;
	res->gain_db = mp.gain_db;
	res->loudness_range_lu = po.lra;
	res->max_gain_reduction_db = mp.limit && po.min_gain < 1 ? -db(po.min_gain) : 0;
	res->target_missed_lu = r->plan->master && po.lufs < target - 0.1 ? target - po.lufs : 0;
	res->target_reached = !r->plan->master || fabs(po.lufs - target) <= 0.1;
	r_log(r, "loudness range %.1f LU; the limiter took off %.2f dB at most", res->loudness_range_lu,
	      res->max_gain_reduction_db);
	if (r->plan->master && !res->target_reached)
		r_log(r, "mastering: reached %.2f LUFS, not the %.2f LUFS target", po.lufs, target);
	return 0;
}
