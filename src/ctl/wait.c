/*
 * wait.c - `mixctl wait JOB...`: follow jobs until they are final. On a
 * terminal, a progress bar per job with its stage and elapsed time,
 * redrawn in place; otherwise one line per change. It sleeps in poll(2)
 * on each job's `state` file, which the tree wakes on every change (and
 * once a second at most for progress), with a timeout only to tick the
 * elapsed time; no busy loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define BAR 30

struct follow {
	char jid[JOB_ID_LEN + 1];
	char sid[JOB_SESSION_MAX + 1];
	char state[32];
	int progress;
	int fd;		/* state, opened for poll; -1 once final */
	bool changed;
};

static volatile sig_atomic_t interrupted;

static void on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A synthetic file is rendered when opened: reading fresh means opening
 * again. The state fd is kept open for poll. */
static void refresh(const struct ctl *c, struct follow *f)
{
	char path[4400], *text, state[32] = "";
	int progress = f->progress;

	ctl_job_path(c, f->sid, f->jid, "state", path, sizeof(path));
	if ((text = ctl_read(path))) {
		snprintf(state, sizeof(state), "%.*s", (int)strcspn(text, "\n"), text);
		free(text);
	} else {
		snprintf(state, sizeof(state), "gone");
	}
	ctl_job_path(c, f->sid, f->jid, "progress", path, sizeof(path));
	if ((text = ctl_read(path))) {
		progress = atoi(text);
		free(text);
	}
	f->changed = strcmp(state, f->state) != 0 || progress != f->progress;
	snprintf(f->state, sizeof(f->state), "%s", state);
	f->progress = progress;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (strcmp(state, "complete") && strcmp(state, "error") && strcmp(state, "gone")) {
		ctl_job_path(c, f->sid, f->jid, "state", path, sizeof(path));
		if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0 && read(f->fd, path, 64) < 0)
			path[0] = '\0'; /* the first read arms the poll */
	}
}

static void draw_bar(const struct follow *f, double elapsed)
{
	int fill = f->progress * BAR / 100;
	char bar[BAR + 1];

	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR - fill));
	bar[BAR] = '\0';
	printf("\r\033[K%.8s [%s] %3d%%  %-17s %d:%02d\n", f->jid, bar, f->progress, f->state,
	       (int)elapsed / 60, (int)elapsed % 60);
}

static void draw(struct follow *v, size_t n, bool tty, bool first, double elapsed)
{
	if (tty && !first)
		printf("\033[%zuA", n);
	for (size_t i = 0; i < n; i++) {
		if (tty)
			draw_bar(&v[i], elapsed);
		else if (v[i].changed)
			printf("%s %s %d\n", v[i].jid, v[i].state, v[i].progress);
	}
	fflush(stdout);
}

static int outcome(const struct follow *v, size_t n, bool *done)
{
	int rc = CTL_OK;

	*done = true;
	for (size_t i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			*done = false;
		else if (strcmp(v[i].state, "complete") != 0)
			rc = CTL_FAILED;
	}
	return rc;
}

static int follow_loop(const struct ctl *c, struct follow *v, size_t n)
{
	bool tty = isatty(1), done, first = true;
	struct pollfd *p = calloc(n, sizeof(*p));
	double t0 = now_s();
	int rc;

	if (!p)
		return CTL_FAILED;
	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (first || v[i].fd >= 0)
				refresh(c, &v[i]);
		draw(v, n, tty, first, now_s() - t0);
		first = false;
		rc = outcome(v, n, &done);
		if (done || interrupted)
			break;
		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = v[i].fd, .events = POLLPRI };
		/* the timeout only ticks the clock on a terminal; a lost wake-up
		 * costs at most a few seconds elsewhere */
		if (poll(p, n, tty ? 1000 : 5000) < 0 && errno != EINTR)
			break;
		if (interrupted)
			break;
	}
	free(p);
	for (size_t i = 0; i < n; i++)
		if (v[i].fd >= 0)
			close(v[i].fd);
	return interrupted ? CTL_INTERRUPTED : rc;
}

int ctl_wait(const struct ctl *c, int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_int };
	struct follow *v;
	int rc = CTL_OK;

	if (argc < 1) {
		ctl_error("usage: mixctl wait JOB...");
		return CTL_USAGE;
	}
	if (!(v = calloc((size_t)argc, sizeof(*v))))
		return CTL_FAILED;
	for (int i = 0; i < argc && rc == CTL_OK; i++) {
		rc = ctl_resolve(c, argv[i], v[i].jid, v[i].sid);
		v[i].fd = -1;
		v[i].progress = -1;
	}
	if (rc == CTL_OK) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		rc = follow_loop(c, v, (size_t)argc);
	}
	free(v);
	return rc;
}
