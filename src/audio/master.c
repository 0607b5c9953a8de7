/*
 * master.c - mastering and export: passes over the temp mix through the
 * gain, the look-ahead limiter and the meter, a search for the gain that
 * lands on the target, and the final pass into the output file. See
 * render_impl.h.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_impl.h"
#include "render_impl.h"

#define MASTER_TOL_LU 0.02	/* the search's, on predicted loudness */
#define MASTER_EXPORT_TOL_LU 0.05	/* the export's, on measured loudness */
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

/* A pass's back half, on the stage thread: loudness, the true peak of
 * what was written, the output file. */
struct pass_sink {
	struct render *r;
	struct kweight kw;
	struct lsums sums;		/* of what was written */
	struct tp_detector *det;
	float *peaks;			/* AUDIO_BLOCK, for the detector's output */
	struct exporter *ex;
	float true_peak;
};

static int pass_sink_fn(void *ctx, const float *y, long m)
{
	struct pass_sink *k = ctx;

	kweight_run(&k->kw, y, m, NULL, &k->sums);
	tp_run(k->det, y, m, k->peaks);
	for (long i = 0; i < m; i++)
		k->true_peak = fmax_f(k->true_peak, k->peaks[i]);
	return export_write(k->ex, y, m, k->r->err);
}

/* Feed one block of the temp file through gain and limiter into @y;
 * returns the frames that left the limiter. */
static long pass_block(float *rec, long in, long n, float g, struct limiter *lim,
		       float ceiling, float *y)
{
	long m = 0;

	for (long k = 0; k < n; k++) {
		float l = k < in ? rec[REC * k] * g : 0, rr = k < in ? rec[REC * k + 1] * g : 0;
		float pk = k < in ? rec[REC * k + 2] * g : 0;

		if (!lim) {
			y[2 * m] = l;
			y[2 * m++ + 1] = rr;
		} else if (limiter_push(lim, l, rr, pk, ceiling, &y[2 * m], &y[2 * m + 1])) {
			m++;
		}
	}
	return m;
}

/*
 * The export: one pass over the temp file at @gain (linear) through the
 * limiter at @ceiling (linear; <= 0 means no limiter) into @ex, measuring
 * what is written: its loudness, loudness range and true peak.
 */
static int master_pass(struct render *r, double gain, float ceiling, struct exporter *ex,
		       struct pass_out *out)
{
	struct pass_sink k = { .r = r, .ex = ex, .det = tp_new(),
			       .peaks = malloc(sizeof(float) * AUDIO_BLOCK) };
	struct limiter *lim = ceiling > 0 ? limiter_new(r->rate, LIMIT_LOOKAHEAD_MS, LIMIT_RELEASE_MS) : NULL;
	float *rec = malloc(sizeof(float) * REC * AUDIO_BLOCK);
	int64_t tail = lim ? limiter_lookahead(lim) : 0;
	struct stage *st = NULL;
	int rc = lsums_init(&k.sums, r->rate, r->length), rc2;

	kweight_init(&k.kw, r->rate);
	if (rc || !k.det || !k.peaks || (ceiling > 0 && !lim) || !rec ||
	    stage_start(&st, AUDIO_BLOCK, pass_sink_fn, &k))
		rc = -ENOMEM;
	for (int64_t pos = 0; !rc && pos < r->length + tail; pos += AUDIO_BLOCK) {
		long n = r->length + tail - pos < AUDIO_BLOCK ? (long)(r->length + tail - pos) : AUDIO_BLOCK;
		long in = r->length - pos < n ? (long)(r->length - pos) : n, m;
		float *y = stage_slot(st);

		if (!y)
			break;
		if (in > 0 && (rc = tmp_io(r, false, rec, pos, in)))
			break;
		m = pass_block(rec, in, n, (float)gain, lim, ceiling, y);
		stage_commit(st, m);
		rc = r_cancelled(r);
		r_progress(r, (double)(pos + n), (double)(r->length + tail));
	}
	if (st && (rc2 = stage_finish(st)) && !rc)
		rc = rc2;
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
	free(rec);
	return rc;
}

/*
 * The loudness the limiter would give at @gain and @ceiling, without
 * touching audio: the limiter's gain alone, run over the stored true
 * peaks, scales each frame's stored K-weighted power. The gain moves over
 * milliseconds, slowly beside the K-weighting, so K(g x) is g K(x) to
 * within a few hundredths of an LU; the export measures the real output
 * and corrects a miss.
 */
static int predict_pass(struct render *r, double gain, float ceiling, struct pass_out *out)
{
	struct limiter *lim = limiter_new(r->rate, LIMIT_LOOKAHEAD_MS, LIMIT_RELEASE_MS);
	int ring_n = lim ? limiter_lookahead(lim) + 1 : 1, w = 0;
	float *ring = calloc((size_t)ring_n, sizeof(float));	/* the last L+1 frames' power */
	float *rec = malloc(sizeof(float) * REC * AUDIO_BLOCK), g = (float)gain;
	double g2 = gain * gain;
	struct lsums sums;
	int rc = lsums_init(&sums, r->rate, r->length);

	if (!lim || !ring || !rec)
		rc = -ENOMEM;
	for (int64_t pos = 0; !rc && pos < r->length + ring_n - 1; pos += AUDIO_BLOCK) {
		int64_t left = r->length + ring_n - 1 - pos;
		long n = left < AUDIO_BLOCK ? (long)left : AUDIO_BLOCK;
		long in = r->length - pos < n ? (long)(r->length - pos) : n;

		if (in > 0 && (rc = tmp_io(r, false, rec, pos, in)))
			break;
		for (long k = 0; k < n; k++) {
			float lg;

			ring[w] = k < in ? rec[REC * k + 3] : 0;
			w = w + 1 == ring_n ? 0 : w + 1;
			/* ring[w] is now the frame the gain is for, L before */
			if ((lg = limiter_gain(lim, k < in ? rec[REC * k + 2] * g : 0, ceiling)) >= 0)
				lsums_add(&sums, (double)lg * lg * g2 * ring[w]);
		}
		rc = r_cancelled(r);
	}
	out->lufs = rc ? -INFINITY : lsums_integrated(&sums);
	out->min_gain = lim ? limiter_min_gain(lim) : 1;
	lsums_free(&sums);
	limiter_free(lim);
	free(ring);
	free(rec);
	return rc;
}

/* Where mastering lands: the gain, whether the limiter is in, and the
 * loudness it gives when that is already known (measured by a pass at
 * exactly this gain, or exact: with no limiting, gain shifts loudness
 * dB for dB). */
struct master_plan {
	double gain_db;
	bool limit;
	bool known;
	double lufs;
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

/* Find the gain that the prediction says puts the limited mix on @target
 * (the plan's, or that corrected by what an export measured). */
static int master_search(struct render *r, float ceiling, double target, struct master_plan *mp)
{
	double g = target - r->l0;
	double prev_g = 0, prev_l = 0;
	struct pass_out po;
	int rc;

	*mp = (struct master_plan){ .gain_db = 0, .known = true, .lufs = r->l0 };
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
	for (int pass = 1; pass <= MASTER_MAX_PASSES; pass++) {
		if ((rc = predict_pass(r, pow(10.0, g / 20.0), ceiling, &po)))
			return rc;
		r_log(r, "mastering pass %d: gain %+.2f dB, limiter down to %.2f dB, %.2f LUFS predicted",
		      pass, g, db(po.min_gain), po.lufs);
		r_progress(r, pass, MASTER_MAX_PASSES / 2.0);
		mp->gain_db = g;
		mp->lufs = po.lufs;
		mp->known = true;
		if (fabs(po.lufs - target) <= MASTER_TOL_LU)
			return 0;
		/* secant once two points exist; the limiter makes loudness grow
		 * slower than gain */
		double next = g + (target - po.lufs);

		if (pass > 1 && po.lufs != prev_l)
			next = g + (target - po.lufs) * (g - prev_g) / (po.lufs - prev_l);
		prev_g = g;
		prev_l = po.lufs;
		g = fmin(next, g + 12.0);
	}
	/* out of passes: export at the last gain measured */
	return 0;
}

/* Export at @mp; *done when it is kept: under the ceiling, and on target
 * or out of tries. */
static int export_once(struct render *r, const struct mix_target *out, const struct master_plan *mp,
		       float ceiling, bool last, struct pass_out *po, bool *done)
{
	float ceiling_target = (float)pow(10.0, r->plan->true_peak_dbtp / 20.0);
	struct exporter *ex = NULL;
	bool peak_ok, loud_ok;
	int rc;

	r_stage(r, MIX_EXPORTING);
	if ((rc = export_open(&ex, out, r->plan, r->rate, r->length, r->err)))
		return rc;
	rc = master_pass(r, pow(10.0, mp->gain_db / 20.0), mp->limit ? ceiling : 0, ex, po);
	if (rc) {
		export_abort(ex);
		return rc;
	}
	peak_ok = !mp->limit || po->true_peak <= ceiling_target;
	loud_ok = !mp->limit || fabs(po->lufs - r->plan->target_lufs) <= MASTER_EXPORT_TOL_LU;
	if (!peak_ok && last) {
		export_abort(ex);
		snprintf(r->err, AUDIO_ERR_MAX, "mastering: the true peak stays %.2f dBTP over the %.2f dBTP ceiling",
			 db(po->true_peak) - r->plan->true_peak_dbtp, r->plan->true_peak_dbtp);
		return -EIO;
	}
	*done = peak_ok && (loud_ok || last);
	if (*done)
		return export_commit(ex, r->err);
	export_abort(ex);
	return 0;
}

int master_and_export(struct render *r, const struct mix_target *out,
			     struct mix_result *res)
{
	double margin = LIMIT_MARGIN_DB, target = r->plan->target_lufs, aim = target;
	struct master_plan mp;
	struct pass_out po;
	bool done = false;
	int rc = 0;

	for (int attempt = 0; !done; attempt++) {
		float ceiling = (float)pow(10.0, (r->plan->true_peak_dbtp - margin) / 20.0);

		r_stage(r, MIX_MASTERING);
		if ((rc = master_search(r, ceiling, aim, &mp)))
			return rc;
		rc = export_once(r, out, &mp, ceiling, attempt + 1 == MASTER_EXPORTS, &po, &done);
		if (rc || done)
			break;
		if (mp.limit && db(po.true_peak) > r->plan->true_peak_dbtp) {
			margin += 0.1;
			r_log(r, "mastering: true peak %.2f dBTP over the ceiling; limiting %.2f dB lower",
			      db(po.true_peak), margin);
		} else {
			aim += target - po.lufs;
			r_log(r, "mastering: the export measured %.2f LUFS; aiming at %.2f", po.lufs, aim);
		}
	}
	if (rc)
		return rc;
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
