/*
 * reads.c - open/read/close of one small file, as fast as one thread can,
 * for SECONDS: prints reads per second. Used on mixfs, the minimal FUSE
 * filesystem and tmpfs alike.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 2.0, t0, t;
	struct timespec ts;
	long n = 0;
	char buf[4096];

	if (argc < 2)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = ts.tv_sec + ts.tv_nsec / 1e9;
	do {
		for (int i = 0; i < 100; i++, n++) {
			int fd = open(argv[1], O_RDONLY);

			if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0) {
				perror(argv[1]);
				return 1;
			}
			close(fd);
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = ts.tv_sec + ts.tv_nsec / 1e9;
	} while (t - t0 < secs);
	printf("%.0f\n", n / (t - t0));
	return 0;
}
