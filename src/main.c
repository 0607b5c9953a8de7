/*
 * main.c - the mixfs command line (see mixfs(1)):
 *   mixfs [-f] [-d] [-o OPTIONS] MEDIA_DIR MOUNTPOINT    mount (fs_main)
 *   mixfs render SESSION_DIR REQUEST.json OUT.wav         one mix, no mount
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int render_main(int argc, char **argv)
{
	char stems[4096], err[512], perr[REQUEST_ERR_MAX], *text;
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
	rc = request_parse(text, len, &plan, perr);
	free(text);
	if (rc) {
		fprintf(stderr, "mixfs: %s: %s\n", argv[3], perr);
		return 1;
	}
	snprintf(stems, sizeof(stems), "%s/stems", argv[2]);
	rc = mix_render(&plan, stems, argv[4], &cb, &res, err, sizeof(err));
	plan_clear(&plan);
	if (ui.tty)
		fprintf(stderr, "\r");
	if (rc) {
		fprintf(stderr, "mixfs: %s\n", err);
		return 1;
	}
	printf("output: %s\nduration_s: %.3f\nsample_rate: %d\nchannels: %d\n"
	       "integrated_lufs: %.2f\ntrue_peak_dbtp: %.2f\ngain_db: %.2f\noffsets_ms:",
	       argv[4], res.duration_s, res.sample_rate, res.channels, res.integrated_lufs,
	       res.true_peak_dbtp, res.gain_db);
	for (size_t i = 0; i < res.n_stems; i++)
		printf(" %.3f", res.offsets_ms[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "render") == 0)
		return render_main(argc, argv);
	return fs_main(argc, argv);
}
