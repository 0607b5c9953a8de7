/*
 * stem.c - reading one stem: libsndfile for every format it knows, soxr
 * (very high quality) when the stem's rate differs from the output's, and
 * an exact output length of round(frames * out / in).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_impl.h"

static void stem_err(char *err, const char *name, const char *what)
{
	snprintf(err, AUDIO_ERR_MAX, "stems/%s: %s", name, what);
}

/* libsndfile reads a WAV whose data chunk is cut short without an error;
 * its log says "data : N (should be M)". */
static bool stem_log_says_truncated(SNDFILE *sf)
{
	char log[8192];
	const char *p;

	sf_command(sf, SFC_GET_LOG_INFO, log, sizeof(log));
	for (p = log; (p = strstr(p, "data ")); p++) {
		const char *eol = strchr(p, '\n');
		const char *should = strstr(p, "should be");

		if (should && (!eol || should < eol) && (p == log || p[-1] == '\n'))
			return true;
	}
	return false;
}

/* The stem's file, opened beneath stems/ with no symlink followed: the
 * daemon reads as root, the folder is the user's. */
static int stem_file(int stems_fd, const char *name, char *err)
{
	struct stat st;
	int fd = util_open_beneath(stems_fd, name, O_RDONLY | O_NONBLOCK, 0);

	if (fd < 0) {
		stem_err(err, name, fd == -ENOENT ? "no such stem"
				    : fd == -ELOOP || fd == -EXDEV
					? "a symlink; stems must be files in stems/, refused"
					: strerror(-fd));
		return fd == -ENOENT || fd == -ELOOP || fd == -EXDEV ? -EINVAL : fd;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		stem_err(err, name, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int stem_open(struct stem *s, int stems_fd, const char *name, char *err)
{
	char what[200];
	int fd;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	if ((fd = stem_file(stems_fd, name, err)) < 0)
		return fd;
	s->fd = fd;
	s->has_fd = true;
	s->sf = sf_open_fd(fd, SFM_READ, &s->info, SF_FALSE);
	if (!s->sf) {
		snprintf(what, sizeof(what), "not readable audio (%s)", sf_strerror(NULL));
		stem_err(err, name, what);
		stem_close(s);
		return -EINVAL;
	}
	/* a rate this low is a broken header or a trick: 4.8 KB "at 8 Hz" is
	 * five minutes of audio, 86 MB once resampled */
	if (s->info.samplerate < STEM_RATE_MIN || s->info.samplerate > STEM_RATE_MAX) {
		snprintf(what, sizeof(what), "sample rate %d Hz; stems must be %d to %d Hz",
			 s->info.samplerate, STEM_RATE_MIN, STEM_RATE_MAX);
		stem_err(err, name, what);
		stem_close(s);
		return -EINVAL;
	}
	if (s->info.channels < 1 || s->info.channels > 2) {
		snprintf(what, sizeof(what), "%d channels; stems must be mono or stereo",
			 s->info.channels);
		stem_err(err, name, what);
		stem_close(s);
		return -EINVAL;
	}
	if (stem_log_says_truncated(s->sf)) {
		stem_err(err, name, "truncated: the file is shorter than its header says");
		stem_close(s);
		return -EINVAL;
	}
	s->in_buf = malloc(sizeof(float) * AUDIO_BLOCK * 2);
	if (!s->in_buf) {
		stem_close(s);
		return -ENOMEM;
	}
	return 0;
}

/* soxr pulls input through this; a read error is reported as failure. */
static size_t stem_input(void *state, soxr_in_t *data, size_t requested)
{
	struct stem *s = state;
	sf_count_t n;

	if (requested > AUDIO_BLOCK)
		requested = AUDIO_BLOCK;
	n = sf_readf_float(s->sf, s->in_buf, (sf_count_t)requested);
	if (n < 0 || sf_error(s->sf)) {
		s->failed = 1;
		*data = NULL;
		return 0;
	}
	s->read_in += n;
	*data = s->in_buf;
	return (size_t)n;
}

int stem_start(struct stem *s, int out_rate, char *err)
{
	soxr_error_t e;
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ, 0);
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);

	if (s->rs) {
		soxr_delete(s->rs);
		s->rs = NULL;
	}
	if (sf_seek(s->sf, 0, SEEK_SET) != 0) {
		stem_err(err, s->name, "cannot seek back to its start");
		return -EIO;
	}
	s->out_rate = out_rate;
	s->delivered = s->read_in = 0;
	s->failed = 0;
	s->out_frames = (int64_t)llround((double)s->info.frames * out_rate / s->info.samplerate);
	if (s->info.samplerate == out_rate)
		return 0;
	s->rs = soxr_create(s->info.samplerate, out_rate, (unsigned)s->info.channels,
			    &e, &io, &q, NULL);
	if (!s->rs || (e = soxr_set_input_fn(s->rs, stem_input, s, AUDIO_BLOCK))) {
		stem_err(err, s->name, e ? e : "cannot make a resampler");
		return -ENOMEM;
	}
	return 0;
}

/* The file ended before the frame count its header promised. */
static long stem_short(struct stem *s, char *err)
{
	stem_err(err, s->name, "truncated or unreadable: the audio ends before its header says");
	return -EIO;
}

long stem_read(struct stem *s, float *dst, long frames, char *err)
{
	int ch = s->info.channels;
	long want = frames, got = 0;

	if (s->out_frames - s->delivered < want)
		want = (long)(s->out_frames - s->delivered);
	while (got < want) {
		long n;

		if (s->rs)
			n = (long)soxr_output(s->rs, dst + (size_t)got * ch, (size_t)(want - got));
		else
			n = (long)sf_readf_float(s->sf, dst + (size_t)got * ch, want - got);
		if (!s->rs && n > 0)
			s->read_in += n;
		if (s->failed || (!s->rs && sf_error(s->sf)))
			return stem_short(s, err);
		if (n <= 0)
			break;
		got += n;
	}
	if (got < want) {
		/* The resampler may end a few frames short of the exact length;
		 * the input must not. */
		if (s->read_in < s->info.frames)
			return stem_short(s, err);
		memset(dst + (size_t)got * ch, 0, sizeof(float) * (size_t)(want - got) * ch);
		got = want;
	}
	s->delivered += got;
	return got;
}

void stem_close(struct stem *s)
{
	if (s->rs)
		soxr_delete(s->rs);
	if (s->sf)
		sf_close(s->sf);
	if (s->has_fd)
		close(s->fd);
	free(s->in_buf);
	s->has_fd = false;
	s->rs = NULL;
	s->sf = NULL;
	s->in_buf = NULL;
}
