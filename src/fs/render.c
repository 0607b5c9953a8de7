/* render.c - the text of synthetic files, rendered at open (snapshots). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_impl.h"

const char *const fs_job_file_names[JF_COUNT] = {
	"state", "progress", "job.json", "request.json", "error",
	"log", "wait", "final_mix.wav", "ctl",
};

static const char readme_text[] =
	"mixfs - mix jobs for audio sessions\n"
	"\n"
	"  sessions/              one folder per session; mkdir makes one\n"
	"  sessions/SID/stems/    the session's audio: copy stems here\n"
	"  sessions/SID/requests/ drop a request file here to queue a mix;\n"
	"                         reading it back gives the job id\n"
	"  sessions/SID/jobs/JID/ state, progress, job.json, request.json,\n"
	"                         error, log, wait, final_mix.wav, ctl\n"
	"  sessions/SID/latest    the newest job\n"
	"  sessions/SID/final_mix.wav   the newest complete mix\n"
	"  jobs/JID               every job, by id\n"
	"  stats                  jobs by state, workers, last cleanup\n"
	"\n"
	"A request is JSON; {} mixes every stem, mastered to -14 LUFS / -1 dBTP.\n"
	"  echo '{}' > sessions/demo/requests/take1.json\n"
	"  cat sessions/demo/jobs/$(cat sessions/demo/requests/take1.json)/wait\n"
	"  echo cancel > sessions/demo/jobs/JID/ctl\n"
	"Names starting with '.' or ending in ~ .tmp .part .swp are drafts.\n"
	"Complete jobs expire 48 h after they finish, failed ones after 24 h.\n"
	"See mixfs(1) and mixfs-request(5).\n";

static int render_dup(const char *text, char **buf, size_t *len)
{
	*buf = strdup(text ? text : "");
	if (!*buf)
		return -ENOMEM;
	*len = strlen(*buf);
	return 0;
}

static int render_line(const char *text, char **buf, size_t *len)
{
	if (!text || !*text)
		return render_dup("", buf, len);
	if (asprintf(buf, "%s%s", text, text[strlen(text) - 1] == '\n' ? "" : "\n") < 0)
		return -ENOMEM;
	*len = strlen(*buf);
	return 0;
}

static int render_job_file(struct core *c, const struct node *n, char **buf, size_t *len)
{
	enum job_state st;
	int progress, rc;
	struct job j;
	char small[32];

	if (n->jf == JF_STATE || n->jf == JF_PROGRESS || n->jf == JF_CTL) {
		if ((rc = core_job_state(c, n->jid, &st, &progress, NULL)))
			return rc;
		if (n->jf == JF_CTL)
			small[0] = '\0';
		else if (n->jf == JF_STATE)
			snprintf(small, sizeof(small), "%s\n", job_state_name(st));
		else
			snprintf(small, sizeof(small), "%d\n", progress);
		return render_dup(small, buf, len);
	}
	if ((rc = core_job_get(c, n->jid, &j)))
		return rc;
	switch (n->jf) {
	case JF_JOB_JSON:
		*buf = job_to_json(&j);
		rc = *buf ? 0 : -ENOMEM;
		if (*buf)
			*len = strlen(*buf);
		break;
	case JF_REQUEST_JSON:
		rc = render_dup(j.request_text, buf, len);
		break;
	case JF_ERROR:
		rc = render_line(j.state == JOB_ERROR ? j.error : NULL, buf, len);
		break;
	case JF_LOG:
		rc = render_dup(j.log, buf, len);
		break;
	default:
		rc = -EINVAL;
	}
	job_clear(&j);
	return rc;
}

int render_node(struct core *c, const struct node *n, char **buf, size_t *len)
{
	char jid[JOB_ID_LEN + 2];
	int rc;

	switch (n->kind) {
	case N_README:
		return render_dup(readme_text, buf, len);
	case N_STATS:
		*buf = core_stats_text(c);
		if (!*buf)
			return -ENOMEM;
		*len = strlen(*buf);
		return 0;
	case N_JOB_FILE:
		return render_job_file(c, n, buf, len);
	case N_REQUEST_FILE:
		if ((rc = core_receipt(c, n->sid, n->name, jid)))
			return rc;
		strcat(jid, "\n");
		return render_dup(jid, buf, len);
	default:
		return -EINVAL;
	}
}
