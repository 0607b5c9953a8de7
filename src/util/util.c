/* util.c - see util.h. */
#include "mixfs/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

util_ms util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (util_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t util_fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

util_ms util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (util_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_iso_format(util_ms t, char out[UTIL_ISO_MAX])
{
	time_t secs = (time_t)(t >= 0 ? t / 1000 : (t - 999) / 1000);
	int frac = (int)(t - (util_ms)secs * 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	/* four-digit years, as util_iso_parse() wants them back */
	n = (size_t)snprintf(out, UTIL_ISO_MAX, "%04d-%02d-%02dT%02d:%02d:%02d",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec);
	if (frac)
		snprintf(out + n, UTIL_ISO_MAX - n, ".%03dZ", frac);
	else
		snprintf(out + n, UTIL_ISO_MAX - n, "Z");
}

/* Reads exactly @n digits at *p into *out, advancing *p. */
static int iso_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int iso_expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int iso_offset(const char **p, int64_t *offset_s)
{
	int sign, hh, mm;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*offset_s = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -EINVAL;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (iso_digits(p, 2, &hh))
		return -EINVAL;
	if (**p == ':')
		(*p)++;
	if (iso_digits(p, 2, &mm) || hh > 23 || mm > 59)
		return -EINVAL;
	*offset_s = sign * (hh * 3600 + mm * 60);
	return 0;
}

int util_iso_parse(const char *s, util_ms *out)
{
	const char *p = s;
	int y, mo, d, h, mi, se, ms = 0;
	int64_t offset_s;

	if (!s || iso_digits(&p, 4, &y) || iso_expect(&p, '-') ||
	    iso_digits(&p, 2, &mo) || iso_expect(&p, '-') ||
	    iso_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	if (iso_digits(&p, 2, &h) || iso_expect(&p, ':') ||
	    iso_digits(&p, 2, &mi) || iso_expect(&p, ':') ||
	    iso_digits(&p, 2, &se))
		return -EINVAL;
	if (*p == '.' || *p == ',') {
		int scale = 100;

		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++, scale /= 10)
			ms += (*p - '0') * scale;
	}
	if (iso_offset(&p, &offset_s) || *p)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -EINVAL;
	*out = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
		 offset_s) * 1000) + ms;
	return 0;
}

int util_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *data = buf;

	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Without openat2 (kernels before 5.6): one component at a time, each
 * opened with O_NOFOLLOW, "." and ".." refused. */
static int open_beneath_walk(int dirfd, const char *rel, int flags, unsigned mode)
{
	char buf[4096], *save = NULL, *part, *next;
	int fd = dirfd, nfd;

	if (util_fmt(buf, sizeof(buf), "%s", rel))
		return -ENAMETOOLONG;
	if (buf[0] == '/')
		return -EXDEV;
	for (part = strtok_r(buf, "/", &save); part; part = next) {
		next = strtok_r(NULL, "/", &save);
		if (!strcmp(part, ".") || !strcmp(part, "..")) {
			nfd = -EXDEV;
		} else {
			struct stat st;

			nfd = next ? openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				   : openat(fd, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			nfd = nfd < 0 ? -errno : nfd;
			/* a symlink opened as a folder fails as "not a folder": say
			 * what it is, as openat2 does */
			if (nfd == -ENOTDIR && fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				nfd = -ELOOP;
		}
		if (fd != dirfd)
			close(fd);
		if (nfd < 0)
			return nfd;
		fd = nfd;
	}
	return fd == dirfd ? -EINVAL : fd;
}

int util_open_beneath(int dirfd, const char *rel, int flags, unsigned mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS)
		return open_beneath_walk(dirfd, rel, flags, mode);
	return -errno;
}

int util_temp_open_at(int dirfd, const char *name, char tmp[UTIL_TEMP_NAME_MAX])
{
	static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned long r = (unsigned long)random() ^ (unsigned long)util_now_ms() * 2654435761UL;
		char suffix[7];
		int fd;

		for (int i = 0; i < 6; i++, r /= 36)
			suffix[i] = digits[r % 36];
		suffix[6] = '\0';
		if (util_fmt(tmp, UTIL_TEMP_NAME_MAX, ".%s.tmp.%s", name, suffix))
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

int util_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			 unsigned mode)
{
	char tmp[UTIL_TEMP_NAME_MAX];
	int fd = util_temp_open_at(dirfd, name, tmp), rc;

	if (fd < 0)
		return fd;
	rc = util_write_all(fd, data, len);
	if (!rc && fchmod(fd, mode) < 0)
		rc = -errno;
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (rc) {
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int read_fd_alloc(int fd, size_t cap, char **out, size_t *out_len)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size > cap)
		return -EFBIG;
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int util_read_file_alloc(const char *path, size_t cap, char **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = read_fd_alloc(fd, cap, out, out_len);
	close(fd);
	return rc;
}

int util_read_file_at(int dirfd, const char *name, size_t cap, char **out, size_t *out_len)
{
	/* O_NONBLOCK: a FIFO planted under a record's name must not hang us */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), rc;
	struct stat st;

	if (fd < 0)
		return -errno;
	rc = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (!rc)
		rc = read_fd_alloc(fd, cap, out, out_len);
	close(fd);
	return rc;
}

int util_mkdir_p(const char *path, unsigned mode)
{
	char buf[4096];

	if (util_fmt(buf, sizeof(buf), "%s", path))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

bool util_valid_session_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 128 || s[0] == '.' || strcmp(s, "jobs_index") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool util_valid_plain_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 255 && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

int util_plain_name_check(const char *s)
{
	if (strnlen(s, 256) > 255)
		return -ENAMETOOLONG;
	return util_valid_plain_name(s) ? 0 : -EINVAL;
}

/* Length of the UTF-8 sequence at @p (1-4), or 0 if it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are refused. */
static int utf8_seq(const unsigned char *p)
{
	unsigned c = p[0], cp;
	int n;

	if (c < 0x80)
		return 1;
	n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	if (!n || c > 0xf4)
		return 0;
	cp = c & (0x7f >> n);
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

bool util_valid_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = utf8_seq(p);

		if (!n || *p < 0x20 || *p == 0x7f)
			return false;
		p += n;
	}
	return true;
}

int util_grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t want = *cap ? *cap * 2 : 16;
	void *nv;

	if (n < *cap)
		return 0;
	if (want > SIZE_MAX / elem || !(nv = realloc(*v, want * elem)))
		return -ENOMEM;
	*v = nv;
	*cap = want;
	return 0;
}
