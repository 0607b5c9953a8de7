/* fuzz_names.c - libFuzzer target: any bytes as a name the kernel hands
 * the filesystem, or a path beneath a folder. Name checks must agree with
 * their contracts, and util_open_beneath() must never give a file outside
 * its folder, whatever symlinks, "..", slashes or bytes the path holds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixfs/job.h"
#include "mixfs/request.h"
#include "mixfs/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int root_fd = -1;
static char root[64];

/* A folder with a file, a subfolder, and symlinks out of it and within. */
static void setup(void)
{
	char path[128];

	snprintf(root, sizeof(root), "/tmp/mixfs-fuzz-names.XXXXXX");
	if (!mkdtemp(root) || (root_fd = open(root, O_RDONLY | O_DIRECTORY)) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/d", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/d/f.wav", root);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	snprintf(path, sizeof(path), "%s/up", root);
	if (symlink("/", path) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/d/in", root);
	if (symlink("f.wav", path) < 0)
		abort();
}

static void check_names(const char *s, size_t len)
{
	int rc = util_plain_name_check(s);

	if (rc == 0 && (len > 255 || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..") || !len))
		abort();
	if (len > 255 && rc != -ENAMETOOLONG)
		abort();
	if (util_valid_text(s))
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				abort();
	if (util_valid_session_id(s) && (len > 128 || s[0] == '.' || strchr(s, '/')))
		abort();
	if (job_id_valid(s) && len != JOB_ID_LEN)
		abort();
	(void)request_name_is_draft(s);
}

static void check_beneath(const char *rel)
{
	char link[64], where[PATH_MAX];
	int fd = util_open_beneath(root_fd, rel, O_RDONLY, 0);
	ssize_t n;

	if (fd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, where, sizeof(where) - 1);
	close(fd);
	if (n < 0)
		abort();
	where[n] = '\0';
	if (strncmp(where, root, strlen(root)) != 0)
		abort(); /* escaped its folder */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (root_fd < 0)
		setup();
	memcpy(s, data, size);
	s[size] = '\0';
	check_names(s, strlen(s));
	check_beneath(s);
	free(s);
	return 0;
}
