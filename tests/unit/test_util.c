/* test_util.c - the small helpers: paths opened beneath a folder with no
 * symlink followed, atomic replacement, names and text, array growth. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>

/* A folder holding d/f.wav, a symlink out (up -> /) and one within
 * (d/in -> f.wav). */
static int make_tree(char **dir)
{
	char path[4096];
	int fd;

	*dir = tu_tmpdir();
	snprintf(path, sizeof(path), "%s/d", *dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/d/f.wav", *dir);
	tu_write(path, "x");
	snprintf(path, sizeof(path), "%s/up", *dir);
	assert_int_equal(symlink("/", path), 0);
	snprintf(path, sizeof(path), "%s/d/in", *dir);
	assert_int_equal(symlink("f.wav", path), 0);
	fd = open(*dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

static void test_open_beneath_follows_no_symlink(void **state)
{
	char *dir;
	int root = make_tree(&dir), fd;

	(void)state;
	fd = util_open_beneath(root, "d/f.wav", O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(util_open_beneath(root, "up/etc/passwd", O_RDONLY, 0), -ELOOP);
	assert_int_equal(util_open_beneath(root, "d/in", O_RDONLY, 0), -ELOOP);
	assert_true(util_open_beneath(root, "../etc/passwd", O_RDONLY, 0) < 0);
	assert_true(util_open_beneath(root, "/etc/passwd", O_RDONLY, 0) < 0);
	assert_int_equal(util_open_beneath(root, "d/missing", O_RDONLY, 0), -ENOENT);
	close(root);
	tu_rm_rf(dir);
	free(dir);
}

static void test_write_atomic_at_replaces_whole(void **state)
{
	char *dir = tu_tmpdir(), path[4096], *text;
	size_t len;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_int_equal(util_write_atomic_at(dfd, "r.json", "old\n", 4, 0644), 0);
	assert_int_equal(util_write_atomic_at(dfd, "r.json", "new text\n", 9, 0644), 0);
	assert_int_equal(util_read_file_at(dfd, "r.json", 100, &text, &len), 0);
	assert_string_equal(text, "new text\n");
	free(text);
	assert_int_equal(util_read_file_at(dfd, "r.json", 4, &text, &len), -EFBIG);
	snprintf(path, sizeof(path), "%s/link.json", dir);
	assert_int_equal(symlink("r.json", path), 0);
	assert_int_equal(util_read_file_at(dfd, "link.json", 100, &text, &len), -ELOOP);
	close(dfd);
	tu_rm_rf(dir);
	free(dir);
}

static void test_names_and_text(void **state)
{
	char long_name[300];

	(void)state;
	memset(long_name, 'a', sizeof(long_name));
	long_name[255] = '\0';
	assert_int_equal(util_plain_name_check(long_name), 0);
	long_name[255] = 'a';
	long_name[256] = '\0';
	assert_int_equal(util_plain_name_check(long_name), -ENAMETOOLONG);
	assert_int_equal(util_plain_name_check(".."), -EINVAL);
	assert_int_equal(util_plain_name_check("a/b"), -EINVAL);
	assert_int_equal(util_plain_name_check(""), -EINVAL);
	assert_true(util_valid_text("take 1 \xc3\xa9t\xc3\xa9.json"));
	assert_false(util_valid_text("bad\xff.json"));
	assert_false(util_valid_text("a\nb"));
	assert_false(util_valid_text("\xc0\xaf"));		/* overlong '/' */
	assert_false(util_valid_text("\xed\xa0\x80"));		/* a surrogate */
	assert_false(util_valid_text("\xf4\x90\x80\x80"));	/* past U+10FFFF */
	assert_true(util_valid_session_id("demo-1.a_b"));
	assert_false(util_valid_session_id(".hidden"));
	assert_false(util_valid_session_id("jobs_index"));
}

static void test_grow_doubles_and_keeps(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	for (size_t n = 0; n < 1000; n++) {
		assert_int_equal(util_grow((void **)&v, &cap, n, sizeof(*v)), 0);
		assert_true(cap > n);
		v[n] = (int)n;
	}
	for (size_t n = 0; n < 1000; n++)
		assert_int_equal(v[n], (int)n);
	assert_int_equal(cap, 1024);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_beneath_follows_no_symlink),
		cmocka_unit_test(test_write_atomic_at_replaces_whole),
		cmocka_unit_test(test_names_and_text),
		cmocka_unit_test(test_grow_doubles_and_keeps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
