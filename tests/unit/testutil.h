/* testutil.h - helpers shared by the cmocka tests: scratch folders and
 * records written as another process (or an older writer) would. */
#ifndef MIXFS_TESTUTIL_H
#define MIXFS_TESTUTIL_H

#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mixfs/log.h"
#include "mixfs/util.h"

static int tu_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static inline void tu_rm_rf(const char *path)
{
	nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh scratch folder; the caller frees the string and removes it. */
static inline char *tu_tmpdir(void)
{
	char tmpl[] = "/tmp/mixfs-unit.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	log_set_level(getenv("MIXFS_TEST_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	return strdup(d);
}

static inline void tu_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static inline int tu_exists(const char *fmt, ...)
{
	char path[4096];
	va_list ap;
	struct stat st;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return lstat(path, &st) == 0;
}

#endif
