/*
 * util.h - small helpers shared by every module: wall-clock time in
 * milliseconds, ISO 8601 UTC timestamps, atomic file replacement, and name
 * checks for the things users name (sessions, stems, request files).
 *
 * Everything here is thread-safe and allocation-free unless a function's
 * name says otherwise (_dup / _alloc return memory the caller frees).
 */
#ifndef MIXFS_UTIL_H
#define MIXFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch, UTC. */
typedef int64_t util_ms;

#define UTIL_MS_PER_HOUR ((util_ms)3600 * 1000)

/* The current wall-clock time. Only the daemon's edges read the clock; the
 * job core takes `now` as an argument so tests need no clock. */
util_ms util_now_ms(void);
/* Milliseconds on the monotonic clock: for intervals and deadlines, which
 * setting the wall clock must neither shorten nor stretch. */
util_ms util_mono_ms(void);

/* Format @t as "2026-11-30T03:00:00Z" (or "...:00.250Z" when it has a
 * fraction). @out must hold UTIL_ISO_MAX bytes. */
#define UTIL_ISO_MAX 32
void util_iso_format(util_ms t, char out[UTIL_ISO_MAX]);

/* Parse an ISO 8601 timestamp: date, 'T', time, optional fraction, then
 * 'Z' or a +hh:mm / -hh:mm offset. Returns 0 and sets *out, or -EINVAL. */
int util_iso_parse(const char *s, util_ms *out);


/*
 * Open @rel, a relative path, beneath the folder @dirfd following no
 * symlink at any level: the kernel refuses a symlink (-ELOOP), ".." or an
 * absolute path (-EXDEV) anywhere in it. The daemon runs as root over
 * folders users can write, so every path under MEDIA_DIR and the outputs
 * folder is opened this way. @flags as for open(2) (O_CLOEXEC is added).
 * Returns an fd, or a negative errno.
 */
int util_open_beneath(int dirfd, const char *rel, int flags, unsigned mode);

/* Create a temp file for @name in the folder @dirfd, read-write, named
 * ".<name>.tmp.XXXXXX" (never "*.json"; swept at start), its name in @tmp.
 * Returns an fd or a negative errno. */
#define UTIL_TEMP_NAME_MAX 300
int util_temp_open_at(int dirfd, const char *name, char tmp[UTIL_TEMP_NAME_MAX]);

/*
 * Replace @name in the folder @dirfd with @len bytes of @data atomically:
 * a temp file beside it (util_temp_open_at), fsync, rename over @name,
 * fsync of the folder. A reader sees the old file or the new one, never a
 * mix. Returns 0 or a negative errno; on failure the temp file is gone and
 * @name is unchanged.
 */
int util_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			 unsigned mode);

/* The 64-bit FNV-1a hash of @len bytes: map buckets, inode numbers and
 * digests of text, where a collision costs a lookup, never correctness. */
uint64_t util_fnv1a(const void *data, size_t len);

/* write(2) all of @len bytes, through EINTR and short writes. 0 or -errno. */
int util_write_all(int fd, const void *data, size_t len);

/* util_read_file_alloc() of the plain name @name in the folder @dirfd; a
 * symlink there is refused (-ELOOP). */
int util_read_file_at(int dirfd, const char *name, size_t cap, char **out, size_t *out_len);

/* Read a whole file, at most @cap bytes, into a NUL-terminated buffer the
 * caller frees. Returns 0, -EFBIG when larger than @cap, or a negative errno. */
int util_read_file_alloc(const char *path, size_t cap, char **out, size_t *out_len);

/* mkdir -p with @mode; existing folders are fine. Returns 0 or -errno. */
int util_mkdir_p(const char *path, unsigned mode);

/* A session id: 1-128 of [A-Za-z0-9._-], not starting with '.', not
 * "jobs_index". */
bool util_valid_session_id(const char *s);

/* A plain file name: non-empty, at most 255 bytes, no '/', not "." or "..". */
bool util_valid_plain_name(const char *s);

/* Why @s is not a plain name: 0 when it is, -ENAMETOOLONG past 255 bytes
 * (never truncated into another name), else -EINVAL. */
int util_plain_name_check(const char *s);

/* Whether @s is valid UTF-8 with no control characters: text that can go
 * into a JSON record and a terminal as it is. */
bool util_valid_text(const char *s);

/* Make room in the array *@v (of @cap elements of @elem bytes, @n in use)
 * for one more, doubling it (16 at first). 0, or -ENOMEM with *@v and
 * *@cap unchanged. */
int util_grow(void **v, size_t *cap, size_t n, size_t elem);

/* snprintf that reports truncation: returns 0, or -ENAMETOOLONG. */
int util_fmt(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
