/* fuzz_stem.c - libFuzzer target: any bytes as a stem file (random bytes
 * and mutated WAV/FLAC/AIFF headers from the seeds). Opening it must
 * either fail with a message naming the stem or give a stem that reads to
 * its end at 48 kHz, resampled when it is not, within the frames it
 * promised, in bounded memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/audio/audio_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dir_fd = -1;

static void setup(void)
{
	char tmpl[] = "/tmp/mixfs-fuzz-stem.XXXXXX";

	if (!mkdtemp(tmpl) || (dir_fd = open(tmpl, O_RDONLY | O_DIRECTORY)) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static float buf[AUDIO_BLOCK * 2];
	char err[AUDIO_ERR_MAX] = "";
	struct stem s;
	int fd;

	if (dir_fd < 0)
		setup();
	fd = openat(dir_fd, "x.wav", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
		abort();
	if (stem_open(&s, dir_fd, "x.wav", err)) {
		if (!strstr(err, "stems/x.wav"))
			abort(); /* an error names the file */
		return 0;
	}
	if (stem_start(&s, 48000, err) == 0) {
		int64_t got = 0;
		long n;

		/* a stem never delivers more than it promised */
		while ((n = stem_read(&s, buf, AUDIO_BLOCK, err)) > 0 && got <= s.out_frames)
			got += n;
		if (got > s.out_frames || (n < 0 && !strstr(err, "stems/x.wav")))
			abort();
	}
	stem_close(&s);
	return 0;
}
