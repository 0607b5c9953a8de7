/* floor.c - the physical floor of a mix, for `make bench`: read the stems
 * with libsndfile, sum them as they are (no resampling, no gain, no
 * mastering) and write 24-bit WAV. Every engine figure is also shown as a
 * multiple of this program's time.
 *
 *   floor OUT.wav STEM...
 */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096

int main(int argc, char **argv)
{
	SNDFILE *in[64], *out;
	SF_INFO info[64], oi = { .samplerate = 48000, .channels = 2,
				 .format = SF_FORMAT_WAV | SF_FORMAT_PCM_24 };
	static float buf[BLOCK * 2], acc[BLOCK * 2];
	int n = argc - 2, live;

	if (n < 1 || n > 64) {
		fprintf(stderr, "usage: floor OUT.wav STEM...\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		memset(&info[i], 0, sizeof(info[i]));
		if (!(in[i] = sf_open(argv[i + 2], SFM_READ, &info[i])) || info[i].channels > 2) {
			fprintf(stderr, "floor: %s: %s\n", argv[i + 2], sf_strerror(NULL));
			return 1;
		}
	}
	if (!(out = sf_open(argv[1], SFM_WRITE, &oi))) {
		fprintf(stderr, "floor: %s: %s\n", argv[1], sf_strerror(NULL));
		return 1;
	}
	do {
		long most = 0;

		memset(acc, 0, sizeof(acc));
		live = 0;
		for (int i = 0; i < n; i++) {
			sf_count_t got = sf_readf_float(in[i], buf, BLOCK);

			for (sf_count_t k = 0; k < got; k++) {
				float l = buf[k * info[i].channels];
				float r = info[i].channels == 2 ? buf[k * 2 + 1] : l;

				acc[2 * k] += l;
				acc[2 * k + 1] += r;
			}
			if (got > most)
				most = (long)got;
			live += got > 0;
		}
		if (most && sf_writef_float(out, acc, most) != most) {
			fprintf(stderr, "floor: %s: write failed\n", argv[1]);
			return 1;
		}
	} while (live);
	for (int i = 0; i < n; i++)
		sf_close(in[i]);
	return sf_close(out) ? 1 : 0;
}
