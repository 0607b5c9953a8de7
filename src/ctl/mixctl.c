/* mixctl.c - the command line of mixctl(1): options, the command, the
 * mount. See ctl.h. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char usage_text[] =
	"usage: mixctl [-m MOUNTPOINT] COMMAND [ARGS]\n"
	"\n"
	"  submit SESSION [REQUEST|-]   drop a request ({} if none); prints the job id\n"
	"  wait JOB...                  follow jobs until final; 0 if all complete\n"
	"  ls [SESSION] [-o json] [--state=STATE]\n"
	"                               the jobs, oldest first\n"
	"  show JOB...                  a job's record\n"
	"  log JOB...                   a job's log\n"
	"  cancel JOB...                cancel jobs\n"
	"  rm JOB...                    delete final jobs\n"
	"  stats                        jobs by state, workers, the last cleanup\n"
	"\n"
	"A unique prefix of a job id is enough. The mount is -m, else $MIXFS_MOUNT,\n"
	"else the one mixfs mount. Exit: 0 done, 1 failed, 2 usage or lookup error,\n"
	"130 interrupted. See mixctl(1).\n";

static const struct {
	const char *name;
	int (*fn)(const struct ctl *c, int argc, char **argv);
} commands[] = {
	{ "submit", ctl_submit }, { "wait", ctl_wait }, { "ls", ctl_ls }, { "show", ctl_show },
	{ "log", ctl_log }, { "cancel", ctl_cancel }, { "rm", ctl_rm }, { "stats", ctl_stats },
};

int main(int argc, char **argv)
{
	const char *mp = NULL;
	struct ctl c;
	int i = 1, rc;

	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
		fputs(usage_text, stdout);
		return CTL_OK;
	}
	if (i + 1 < argc && strcmp(argv[i], "-m") == 0) {
		mp = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return CTL_USAGE;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(*commands); k++) {
		if (strcmp(argv[i], commands[k].name) != 0)
			continue;
		if ((rc = ctl_find_mount(&c, mp)))
			return rc;
		return commands[k].fn(&c, argc - i - 1, argv + i + 1);
	}
	ctl_error("%s: no such command (see mixctl --help)", argv[i]);
	return CTL_USAGE;
}
