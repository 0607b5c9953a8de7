/*
 * log.h - one thread-safe log sink for the daemon. Lines go to stderr (or
 * syslog once daemonized) with a level prefix; a line is written whole.
 */
#ifndef MIXFS_LOG_H
#define MIXFS_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Lines below @min are dropped. Tests raise it to keep output quiet. */
void log_set_level(enum log_level min);
/* After daemonizing: send lines to syslog instead of stderr. */
void log_use_syslog(void);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
