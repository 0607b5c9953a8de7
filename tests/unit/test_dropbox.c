/* test_dropbox.c - files written into requests/: replace and rename rules,
 * the size cap keeping nothing, a drop living on while a handle holds it
 * after unlink, and which names are drafts. */
#include "testutil.h"

#include <errno.h>

#include "../../src/fs/fs_impl.h"
#include "mixfs/request.h"

static void test_rename_replaces_and_onto_itself_is_nothing(void **state)
{
	struct drop_box b;
	struct drop *x, *y, *got;
	char **names;
	size_t n;

	(void)state;
	assert_int_equal(drop_box_init(&b), 0);
	assert_non_null(x = drop_create(&b, "s1", ".a.json.swp", 1000, 100, 0644));
	assert_non_null(y = drop_create(&b, "s1", "a.json", 1000, 100, 0644));
	assert_int_equal(drop_rename(&b, "s1", ".a.json.swp", "a.json"), 0);
	assert_int_equal(drop_names(&b, "s1", &names, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "a.json");
	free(names[0]);
	free(names);
	assert_ptr_equal(got = drop_get(&b, "s1", "a.json"), x);
	drop_put(got);
	assert_int_equal(drop_rename(&b, "s1", "a.json", "a.json"), 0);
	assert_non_null(got = drop_get(&b, "s1", "a.json"));
	drop_put(got);
	assert_int_equal(drop_rename(&b, "s1", "missing", "b.json"), -ENOENT);
	drop_put(x);
	drop_put(y);
	drop_box_release(&b);
}

static void test_cap_keeps_nothing_and_unlink_keeps_the_handle(void **state)
{
	struct drop_box b;
	struct drop *d;
	char *text, name[256];
	size_t len;
	bool listed, dirty, big;

	(void)state;
	assert_int_equal(drop_box_init(&b), 0);
	assert_non_null(d = drop_create(&b, "s1", "r.json", 1000, 100, 0644));
	assert_int_equal(drop_write(d, "{}", 2, 0), 0);
	assert_int_equal(drop_write(d, "x", 1, REQUEST_MAX_BYTES), -EFBIG);
	assert_int_equal(drop_snapshot(d, &text, &len, &dirty), 0);
	assert_int_equal(len, 0); /* nothing of an oversized request is kept */
	free(text);
	drop_flags(d, name, &listed, &dirty, &big);
	assert_true(big);
	assert_int_equal(drop_truncate(d, 0), 0);
	assert_int_equal(drop_write(d, "{}", 2, 0), 0);
	assert_int_equal(drop_unlink(&b, "s1", "r.json"), 0);
	assert_null(drop_get(&b, "s1", "r.json"));
	assert_int_equal(drop_snapshot(d, &text, &len, &dirty), 0); /* still ours */
	assert_string_equal(text, "{}");
	free(text);
	drop_flags(d, name, &listed, &dirty, &big);
	assert_false(listed);
	drop_put(d);
	drop_box_release(&b);
}

static void test_draft_names(void **state)
{
	(void)state;
	assert_true(request_name_is_draft(".take1.json"));
	assert_true(request_name_is_draft("take1.json~"));
	assert_true(request_name_is_draft("take1.json.swp"));
	assert_true(request_name_is_draft("take1.tmp"));
	assert_true(request_name_is_draft("take1.part"));
	assert_false(request_name_is_draft("take1.json"));
	assert_false(request_name_is_draft("4913"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rename_replaces_and_onto_itself_is_nothing),
		cmocka_unit_test(test_cap_keeps_nothing_and_unlink_keeps_the_handle),
		cmocka_unit_test(test_draft_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
