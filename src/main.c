/*
 * main.c - the mixfs command line (see mixfs(1)):
 *   mixfs [-f] [-d] [-o OPTIONS] MEDIA_DIR MOUNTPOINT    mount (fs_main)
 *   mixfs render SESSION_DIR REQUEST.json OUT.wav         one mix, no mount
 *   mixfs migrate MEDIA_DIR CONNINFO                      file store -> database
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mixfs/core.h"
#include "mixfs/fs.h"
#include "mixfs/log.h"
#include "mixfs/mix.h"
#include "mixfs/request.h"
#include "mixfs/util.h"

struct render_ui {
	bool tty;
	int last;
};

static void ui_stage(void *ctx, enum mix_stage s)
{
	struct render_ui *ui = ctx;

	if (!ui->tty)
		fprintf(stderr, "%s\n", mix_stage_name(s));
}

static void ui_progress(void *ctx, int pct)
{
	struct render_ui *ui = ctx;

	if (ui->tty && pct != ui->last)
		fprintf(stderr, "\r%3d%%", pct);
	ui->last = pct;
}

static void ui_log(void *ctx, const char *line)
{
	struct render_ui *ui = ctx;

	fprintf(stderr, "%s%s\n", ui->tty ? "\r" : "", line);
}

/* SESSION_DIR/stems and the folder of OUT, named on the command line by
 * the user who runs it (no daemon's privilege is lent here). */
static int render_open_dirs(const char *session, const char *out, int *stems_fd, int *out_fd,
			    const char **out_name)
{
	char path[4096];
	const char *slash = strrchr(out, '/');

	snprintf(path, sizeof(path), "%s/stems", session);
	if ((*stems_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "mixfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%.*s", slash ? (int)(slash - out) + 1 : 1, slash ? out : ".");
	*out_name = slash ? slash + 1 : out;
	if ((*out_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "mixfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int render_main(int argc, char **argv)
{
	char err[512] = "", perr[REQUEST_ERR_MAX], *text;
	const char *out_name;
	int stems_fd = -1, out_fd = -1;
	struct render_ui ui = { .tty = isatty(2), .last = -1 };
	struct mix_callbacks cb = { ui_stage, ui_progress, NULL, ui_log, &ui };
	struct mix_result res;
	struct plan plan;
	size_t len;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: mixfs render SESSION_DIR REQUEST.json OUT.wav\n");
		return 2;
	}
	rc = util_read_file_alloc(argv[3], REQUEST_MAX_BYTES, &text, &len);
	if (rc) {
		fprintf(stderr, "mixfs: %s: %s\n", argv[3],
			rc == -EFBIG ? "over 1 MiB: not a request" : strerror(-rc));
		return 1;
	}
	rc = request_parse(text, len, &plan, perr, sizeof(perr));
	free(text);
	if (rc) {
		fprintf(stderr, "mixfs: %s: %s\n", argv[3], perr);
		return 1;
	}
	rc = render_open_dirs(argv[2], argv[4], &stems_fd, &out_fd, &out_name);
	if (!rc) {
		struct mix_target out = { out_fd, out_name, argv[4] };

		rc = mix_render(&plan, stems_fd, &out, &cb, &res, err, sizeof(err));
	}
	if (stems_fd >= 0)
		close(stems_fd);
	if (out_fd >= 0)
		close(out_fd);
	plan_clear(&plan);
	if (ui.tty)
		fprintf(stderr, "\r");
	if (rc) {
		if (err[0])
			fprintf(stderr, "mixfs: %s\n", err);
		return 1;
	}
	printf("output: %s\nduration_s: %.3f\nsample_rate: %d\nchannels: %d\n"
	       "integrated_lufs: %.2f\ntrue_peak_dbtp: %.2f\ngain_db: %.2f\n"
	       "loudness_range_lu: %.2f\nmax_gain_reduction_db: %.2f\ntarget_missed_lu: %.2f\n"
	       "offsets_ms:",
	       argv[4], res.duration_s, res.sample_rate, res.channels, res.integrated_lufs,
	       res.true_peak_dbtp, res.gain_db, res.loudness_range_lu, res.max_gain_reduction_db,
	       res.target_missed_lu);
	for (size_t i = 0; i < res.n_stems; i++)
		printf(" %.3f", res.offsets_ms[i]);
	printf("\n");
	return 0;
}

static int migrate_main(int argc, char **argv)
{
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: mixfs migrate MEDIA_DIR CONNINFO\n");
		return 2;
	}
	rc = core_migrate(argv[2], argv[3], stdout);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "render") == 0)
		return render_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "migrate") == 0)
		return migrate_main(argc, argv);
	return fs_main(argc, argv);
}
