/*
 * render.c - what every stage of a render calls: the callbacks (stage,
 * progress within it, cancel, log) and the temp mix file's reads and
 * writes. See render_impl.h.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "render_impl.h"

static const char *const stage_names[MIX_STAGE_COUNT] = {
	"loading_stems", "aligning_stems", "processing_tracks",
	"mixing", "mastering", "exporting",
};

/* Where each stage's progress starts, out of 100. */
static const int stage_pct[MIX_STAGE_COUNT + 1] = { 0, 3, 8, 10, 50, 85, 100 };

const char *mix_stage_name(enum mix_stage s)
{
	return (unsigned)s < MIX_STAGE_COUNT ? stage_names[s] : NULL;
}

void r_stage(struct render *r, enum mix_stage s)
{
	r->stage = s;
	if (r->cb && r->cb->stage)
		r->cb->stage(r->cb->ctx, s);
}

/* Progress @done of @total within the current stage. */
void r_progress(struct render *r, double done, double total)
{
	int lo = stage_pct[r->stage], hi = stage_pct[r->stage + 1];
	int p = lo + (int)((hi - lo) * (total > 0 ? fmin(done / total, 1.0) : 1.0));

	if (p > r->progress) {
		r->progress = p;
		if (r->cb && r->cb->progress)
			r->cb->progress(r->cb->ctx, p);
	}
}

int r_cancelled(struct render *r)
{
	if (r->cb && r->cb->cancelled && r->cb->cancelled(r->cb->ctx)) {
		snprintf(r->err, AUDIO_ERR_MAX, "cancelled");
		return -ECANCELED;
	}
	return 0;
}

void r_log(struct render *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!r->cb || !r->cb->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->cb->log(r->cb->ctx, line);
}

static int tmp_rw(struct render *r, bool wr, void *buf, size_t len, off_t off, char *err)
{
	char *p = buf;

	while (len) {
		ssize_t n = wr ? pwrite(r->tmp_fd, p, len, off) : pread(r->tmp_fd, p, len, off);

		if (n <= 0) {
			int rc = n < 0 ? -errno : -EIO;

			snprintf(err, AUDIO_ERR_MAX, "cannot %s the mix's temp file in the "
				 "outputs folder: %s", wr ? "write" : "read",
				 n < 0 ? strerror(-rc) : "short read");
			return rc;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Groups start after the last frame. */
static off_t group_offset(const struct render *r, int64_t frame)
{
	return (off_t)(2 * sizeof(float)) * r->length + (off_t)(2 * sizeof(float)) * (frame / TMP_GROUP);
}

static size_t group_bytes(int64_t frames)
{
	return 2 * sizeof(float) * (size_t)((frames + TMP_GROUP - 1) / TMP_GROUP);
}

int tmp_frames(struct render *r, bool wr, float *lr, int64_t frame, long frames, char *err)
{
	return tmp_rw(r, wr, lr, 2 * sizeof(float) * (size_t)frames, (off_t)(2 * sizeof(float)) * frame,
		      err);
}

int tmp_groups(struct render *r, bool wr, float *groups, int64_t frame, long frames, char *err)
{
	return tmp_rw(r, wr, groups, group_bytes(frames), group_offset(r, frame), err);
}
