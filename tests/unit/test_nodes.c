/* test_nodes.c - the FUSE layer's inode table: stable numbers, the
 * kernel's lookup counting (a node lives until forgotten as many times as
 * it was looked up), fixed nodes that are never freed. */
#include "testutil.h"

#include <errno.h>

#include "../../src/fs/fs_impl.h"

static void test_lookup_and_forget_counting(void **state)
{
	struct node_table t;
	struct node a, b, found;

	(void)state;
	assert_int_equal(nodes_init(&t), 0);
	assert_int_equal(nodes_find(&t, FS_INO_ROOT, &found), 0);
	assert_int_equal(found.kind, N_ROOT);
	assert_int_equal(nodes_get(&t, N_SESSION, "s1", NULL, NULL, 0, &a), 0);
	assert_true(a.ino >= FS_FIXED_INOS);
	assert_int_equal(nodes_get(&t, N_SESSION, "s1", NULL, NULL, 0, &b), 0);
	assert_int_equal(a.ino, b.ino); /* the same node, the same number */
	assert_int_equal(nodes_ino_of(&t, N_SESSION, "s1", NULL, NULL, 0), a.ino);
	nodes_ref(&t, a.ino);
	nodes_ref(&t, a.ino);
	nodes_forget(&t, a.ino, 1);
	assert_int_equal(nodes_find(&t, a.ino, &found), 0);
	nodes_forget(&t, a.ino, 1);
	assert_int_equal(nodes_find(&t, a.ino, &found), -ENOENT);
	assert_int_equal(nodes_ino_of(&t, N_SESSION, "s1", NULL, NULL, 0), 0);
	/* a new node after the forget gets a new number */
	assert_int_equal(nodes_get(&t, N_SESSION, "s1", NULL, NULL, 0, &b), 0);
	assert_int_not_equal(b.ino, a.ino);
	nodes_forget(&t, FS_INO_SESSIONS, 1000);
	assert_int_equal(nodes_find(&t, FS_INO_SESSIONS, &found), 0);
	nodes_release(&t);
}

static void test_peek_is_stable_and_makes_nothing(void **state)
{
	struct node_table t;
	fuse_ino_t x, y;

	(void)state;
	assert_int_equal(nodes_init(&t), 0);
	x = nodes_peek_ino(&t, N_STEM_FILE, "s1", NULL, "a.wav", 0);
	y = nodes_peek_ino(&t, N_STEM_FILE, "s1", NULL, "a.wav", 0);
	assert_int_equal(x, y);
	assert_int_not_equal(x, nodes_peek_ino(&t, N_STEM_FILE, "s1", NULL, "b.wav", 0));
	assert_int_equal(nodes_ino_of(&t, N_STEM_FILE, "s1", NULL, "a.wav", 0), 0);
	nodes_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_and_forget_counting),
		cmocka_unit_test(test_peek_is_stable_and_makes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
