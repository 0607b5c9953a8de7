/*
 * bench_enqueue.c - enqueue (cleanup pass included) with 1,000, 10,000 and
 * 100,000 stored jobs, beside the same enqueue whose pass scans every record
 * on disk, as a manager without an expiry index does. One run, same disk.
 *
 * usage: bench_enqueue DIR   (DIR is scratch space on the disk to measure)
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mixfs/cleanup.h"
#include "mixfs/core.h"
#include "mixfs/log.h"
#include "mixfs/store.h"

#define HOUR UTIL_MS_PER_HOUR
#define SESSIONS 100

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* Stored jobs, complete and not yet expired, written plainly (no fsync:
 * this is fixture, not what is measured). */
static void make_fixture(const char *media, const char *outputs, int n, util_ms now)
{
	struct store st;
	char path[STORE_PATH_MAX], err[256];

	util_mkdir_p(media, 0755);
	if (store_open(&st, media, outputs, err, sizeof(err))) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	for (int s = 0; s < SESSIONS; s++) {
		snprintf(path, sizeof(path), "s%d", s);
		store_session_create(&st, path, (uid_t)-1, (gid_t)-1);
	}
	for (int i = 0; i < n; i++) {
		struct job j;
		char sid[16], *text;
		FILE *f;

		snprintf(sid, sizeof(sid), "s%d", i % SESSIONS);
		job_init_new(&j, sid, now - HOUR, 0);
		j.state = JOB_COMPLETE;
		j.finished_at = j.updated_at;
		text = job_to_json(&j);
		store_record_path(&st, sid, j.id, path);
		if ((f = fopen(path, "w"))) {
			fputs(text, f);
			fclose(f);
		}
		store_index_path(&st, j.id, path);
		if ((f = fopen(path, "w"))) {
			fprintf(f, "{\"job_id\": \"%s\", \"session_id\": \"%s\"}\n", j.id, sid);
			fclose(f);
		}
		free(text);
		job_clear(&j);
	}
	store_close(&st);
}

/* The pass without an index: read and judge every record on disk. */
static int full_scan_pass(const char *media, util_ms now, const struct cleanup_ttls *ttls)
{
	DIR *d = opendir(media), *jd;
	struct dirent *e, *je;
	int expired = 0;

	while (d && (e = readdir(d))) {
		char dir[STORE_PATH_MAX];

		if (!util_valid_session_id(e->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s/jobs", media, e->d_name);
		if (!(jd = opendir(dir)))
			continue;
		while ((je = readdir(jd))) {
			char path[STORE_PATH_MAX + 300], *text, err[128];
			size_t len;
			struct job j;

			if (je->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, je->d_name);
			if (util_read_file_alloc(path, 1 << 20, &text, &len))
				continue;
			if (job_from_json(text, &j, err, sizeof(err)) == 0) {
				expired += cleanup_is_expired(
					cleanup_expiry(j.state, j.updated_at, now, ttls), now);
				job_clear(&j);
			}
			free(text);
		}
		closedir(jd);
	}
	if (d)
		closedir(d);
	return expired;
}

/* Resident memory of this process, in bytes. */
static long rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * sysconf(_SC_PAGESIZE);
}

static void run(const char *base, int n, int reps)
{
	char media[4096], outputs[4200], err[256], jid[JOB_ID_LEN + 1];
	struct core_config cfg = { .ttls = { 48 * HOUR, 24 * HOUR } };
	util_ms now = util_now_ms();
	struct core *c;
	double t0, load, indexed, scan;
	long rss0, per_job;
	struct store st;

	snprintf(media, sizeof(media), "%s/media-%d", base, n);
	snprintf(outputs, sizeof(outputs), "%s/out", media);
	make_fixture(media, outputs, n, now);
	sync(); /* the fixture's own writeback is not what is measured */
	cfg.media_dir = media;
	cfg.outputs_dir = outputs;
	rss0 = rss_bytes();
	t0 = secs();
	if (core_open(&c, &cfg, now, err, sizeof(err))) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	load = secs() - t0;
	per_job = (rss_bytes() - rss0) / n;
	core_submit(c, &(struct core_request){ "s0", "warm.json", "{}", 2, 0 },
				 now, jid, err, sizeof(err));
	t0 = secs();
	for (int i = 0; i < reps; i++)
		core_submit(c, &(struct core_request){ "s0", "bench.json", "{}", 2, 0 },
					 now, jid, err, sizeof(err));
	indexed = (secs() - t0) / reps;
	core_close(c);

	/* The same enqueue (the same atomic writes) after a full-scan pass. */
	store_open(&st, media, outputs, err, sizeof(err));
	t0 = secs();
	for (int i = 0; i < reps; i++) {
		struct job j;

		full_scan_pass(media, now, &cfg.ttls);
		job_init_new(&j, "s0", now, 0);
		store_write_job(&st, &j);
		job_clear(&j);
	}
	scan = (secs() - t0) / reps;
	store_close(&st);
	printf("| %7d | %8.3f ms | %10.3f ms | %7.1fx | %6.2f s | %5ld B |\n", n, indexed * 1e3,
	       scan * 1e3, scan / indexed, load, per_job);
	fflush(stdout);
	nftw(media, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s SCRATCH_DIR [STORED]\n", argv[0]);
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	printf("| stored  | enqueue (expiry heap) | enqueue (full scan) | scan/heap | load at mount | memory per job |\n");
	printf("|---|---|---|---|---|---|\n");
	if (argc == 3) {	/* one size, for a profile */
		run(argv[1], atoi(argv[2]), 5);
		return 0;
	}
	run(argv[1], 1000, 50);
	run(argv[1], 10000, 20);
	run(argv[1], 100000, 5);
	/* a million records: 2,000,000 files and a few GB of disk */
	if (!getenv("BENCH_SMALL"))
		run(argv[1], 1000000, 2);
	return 0;
}
