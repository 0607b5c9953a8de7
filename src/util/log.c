/* log.c - see log.h. One mutex keeps concurrent lines whole. */
#include "mixfs/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_min = LOG_LVL_INFO; /* protected by log_lock */
static bool log_syslog;                       /* protected by log_lock */

static const char *const log_names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level min)
{
	pthread_mutex_lock(&log_lock);
	log_min = min;
	pthread_mutex_unlock(&log_lock);
}

void log_use_syslog(void)
{
	pthread_mutex_lock(&log_lock);
	openlog("mixfs", LOG_PID, LOG_DAEMON);
	log_syslog = true;
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (lvl <= log_min) {
		if (log_syslog)
			syslog(prio[lvl], "%s", line);
		else
			fprintf(stderr, "mixfs: %s: %s\n", log_names[lvl], line);
	}
	pthread_mutex_unlock(&log_lock);
}
