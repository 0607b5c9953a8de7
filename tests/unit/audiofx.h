/* audiofx.h - the audio tests' fixture: a scratch folder as stems/, WAVs
 * written into it with libsndfile, and reading one back. */
#ifndef MIXFS_AUDIOFX_H
#define MIXFS_AUDIOFX_H

#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <sndfile.h>

#include "../../src/audio/audio_impl.h"

/* Write @frames interleaved frames of @ch channels at @rate into @dir/@name
 * as float WAV (or @format when not 0). */
static inline void afx_write(const char *dir, const char *name, int rate, int ch,
			     const float *x, long frames, int format)
{
	char path[4096];
	SF_INFO info = { .samplerate = rate, .channels = ch,
			 .format = format ? format : SF_FORMAT_WAV | SF_FORMAT_FLOAT };
	SNDFILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = sf_open(path, SFM_WRITE, &info));
	assert_int_equal(sf_writef_float(f, x, frames), frames);
	assert_int_equal(sf_close(f), 0);
}

/* Read @dir/@name back as ints (left-justified 32-bit), malloc'd. */
static inline int *afx_read_int(const char *dir, const char *name, long *frames, int *ch)
{
	char path[4096];
	SF_INFO info = { 0 };
	SNDFILE *f;
	int *v;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = sf_open(path, SFM_READ, &info));
	v = malloc(sizeof(int) * (size_t)(info.frames * info.channels));
	assert_int_equal(sf_readf_int(f, v, info.frames), info.frames);
	sf_close(f);
	*frames = (long)info.frames;
	*ch = info.channels;
	return v;
}

/* Deterministic white noise in [-a, a]. */
static inline void afx_noise(float *x, long n, float a, uint32_t seed)
{
	for (long i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		x[i] = a * ((float)(seed >> 8) / 8388608.0f - 1.0f);
	}
}

#endif
