/*
 * export.c - the output file. Integers are made here, not by libsndfile:
 * float is scaled by 2^(bits-1), TPDF-dithered at 16 bits, rounded and
 * clipped to the format's range (libsndfile's own conversion wraps unless
 * told otherwise), then handed over left-justified in 32-bit ints, which
 * libsndfile writes exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio_impl.h"
#include "mixfs/log.h"
#include "mixfs/util.h"

#define WAV_LIMIT 0xFFFFFFFFULL	/* RIFF sizes are 32-bit */

struct exporter {
	SNDFILE *sf;
	int fd;
	int dirfd;		/* the output's folder (the caller's) */
	char tmp[UTIL_TEMP_NAME_MAX];
	char name[256];
	char path[4096];
	int bits;		/* 16, 24, or 32 = float */
	uint64_t rng;		/* dither noise, xorshift64 */
	int32_t *ibuf;
};

static int export_format(const struct plan *plan, int64_t frames)
{
	int sub = plan->bit_depth == 16 ? SF_FORMAT_PCM_16
		: plan->bit_depth == 24 ? SF_FORMAT_PCM_24 : SF_FORMAT_FLOAT;
	uint64_t bytes = (uint64_t)frames * 2 * (uint64_t)(plan->bit_depth / 8);

	if (plan->format == PLAN_FMT_FLAC)
		return SF_FORMAT_FLAC | sub;
	return (bytes + 1024 > WAV_LIMIT ? SF_FORMAT_RF64 : SF_FORMAT_WAV) | sub;
}

/* Room for the whole WAV up front, so a full disk is found before the
 * work and named plainly, not as a failed write at the end. */
static int export_reserve(struct exporter *e, int format, int64_t frames)
{
	off_t bytes = (off_t)frames * 2 * (e->bits / 8) + 4096;

	if ((format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC)
		return 0; /* its size is not known before */
	if (fallocate(e->fd, FALLOC_FL_KEEP_SIZE, 0, bytes) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	return 0;
}

int export_open(struct exporter **out, const struct mix_target *target, const struct plan *plan,
		int rate, int64_t frames, char *err)
{
	struct exporter *e = calloc(1, sizeof(*e));
	SF_INFO info = { .samplerate = rate, .channels = 2 };
	int rc;

	if (!e)
		return -ENOMEM;
	e->bits = plan->bit_depth;
	e->rng = 0x9E3779B97F4A7C15ULL;
	e->dirfd = target->dirfd;
	snprintf(e->name, sizeof(e->name), "%s", target->name);
	snprintf(e->path, sizeof(e->path), "%s", target->path);
	e->ibuf = malloc(sizeof(int32_t) * AUDIO_BLOCK * 2);
	e->fd = e->ibuf ? util_temp_open_at(e->dirfd, e->name, e->tmp) : -ENOMEM;
	if (e->fd < 0) {
		rc = e->fd;
		snprintf(err, AUDIO_ERR_MAX, "%s: cannot create the output: %s", e->path,
			 strerror(-rc));
		free(e->ibuf);
		free(e);
		return rc;
	}
	info.format = export_format(plan, frames);
	if ((rc = export_reserve(e, info.format, frames))) {
		snprintf(err, AUDIO_ERR_MAX, "%s: no room for the mix (%.1f MB): %s", e->path,
			 (double)frames * 2 * (e->bits / 8) / 1e6, strerror(-rc));
		export_abort(e);
		return rc;
	}
	e->sf = sf_open_fd(e->fd, SFM_WRITE, &info, SF_FALSE);
	if (!e->sf) {
		snprintf(err, AUDIO_ERR_MAX, "%s: cannot write this format: %s", e->path,
			 sf_strerror(NULL));
		export_abort(e);
		return -EINVAL;
	}
	*out = e;
	return 0;
}

/* Uniform in [0, 1) from xorshift64. */
static inline float export_uniform(struct exporter *e)
{
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return (float)(e->rng >> 40) * (1.0f / 16777216.0f);
}

/* nearbyint() for |v| < 2^51 in the default rounding mode (to nearest,
 * ties to even), without a call into libm per sample: adding 1.5 * 2^52
 * leaves no bits below the unit, so the sum itself is rounded. */
static inline double round_even(double v)
{
	const double magic = 6755399441055744.0;

	return (v + magic) - magic;
}

static void export_to_int(struct exporter *e, const float *x, long n)
{
	const float scale = e->bits == 16 ? 32768.0f : 8388608.0f;
	const int shift = 32 - e->bits;
	const double lo = -scale, hi = scale - 1;

	for (long i = 0; i < n * 2; i++) {
		double v = (double)x[i] * scale;

		if (e->bits == 16) /* TPDF: the difference of two uniforms, +-1 LSB */
			v += (double)export_uniform(e) - (double)export_uniform(e);
		v = round_even(v);
		v = v < lo ? lo : v > hi ? hi : v;
		e->ibuf[i] = (int32_t)((uint32_t)(int32_t)v << shift);
	}
}

int export_write(struct exporter *e, const float *frames, long n, char *err)
{
	sf_count_t w;

	while (n > 0) {
		long chunk = n > AUDIO_BLOCK ? AUDIO_BLOCK : n;

		errno = 0;
		if (e->bits == 32) {
			w = sf_writef_float(e->sf, frames, chunk);
		} else {
			export_to_int(e, frames, chunk);
			w = sf_writef_int(e->sf, e->ibuf, chunk);
		}
		if (w != chunk) {
			int rc = errno ? -errno : -EIO;

			snprintf(err, AUDIO_ERR_MAX, "%s: write failed: %s", e->path,
				 errno ? strerror(errno) : sf_strerror(e->sf));
			return rc;
		}
		frames += chunk * 2;
		n -= chunk;
	}
	return 0;
}

int export_commit(struct exporter *e, char *err)
{
	int rc = sf_close(e->sf) ? -EIO : 0;

	e->sf = NULL;
	if (!rc && fsync(e->fd) < 0)
		rc = -errno;
	if (!rc && renameat(e->dirfd, e->tmp, e->dirfd, e->name) < 0)
		rc = -errno;
	if (rc) {
		snprintf(err, AUDIO_ERR_MAX, "%s: cannot finish the output: %s", e->path,
			 strerror(-rc));
		export_abort(e);
		return rc;
	}
	close(e->fd);
	if (fsync(e->dirfd) < 0)
		log_warn("%s: in place, but its folder could not be synced: %s", e->path,
			 strerror(errno));
	free(e->ibuf);
	free(e);
	return 0;
}

void export_abort(struct exporter *e)
{
	if (!e)
		return;
	if (e->sf)
		sf_close(e->sf);
	if (e->fd >= 0) {
		close(e->fd);
		unlinkat(e->dirfd, e->tmp, 0);
	}
	free(e->ibuf);
	free(e);
}
