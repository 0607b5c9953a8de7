/* test_hmap.c - the string-keyed map under the job cache: put, replace,
 * get, delete and visit, across growth. */
#include "testutil.h"

#include "mixfs/hmap.h"

struct item {
	char key[16];
	int value;
};

static void sum(void *ctx, void *val)
{
	*(long *)ctx += ((struct item *)val)->value;
}

static void test_many_keys(void **state)
{
	static struct item items[20000];
	struct hmap m;
	long total = 0, want = 0;

	(void)state;
	hmap_init(&m);
	for (int i = 0; i < 20000; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
		items[i].value = i;
		assert_int_equal(hmap_put(&m, items[i].key, &items[i]), 0);
	}
	assert_int_equal(m.n, 20000);
	for (int i = 0; i < 20000; i += 7)
		assert_ptr_equal(hmap_get(&m, items[i].key), &items[i]);
	assert_null(hmap_get(&m, "k20000"));
	for (int i = 0; i < 20000; i += 2)
		assert_ptr_equal(hmap_del(&m, items[i].key), &items[i]);
	assert_null(hmap_del(&m, "k0"));
	assert_int_equal(m.n, 10000);
	hmap_each(&m, sum, &total);
	for (int i = 1; i < 20000; i += 2)
		want += i;
	assert_true(total == want);
	assert_int_equal(hmap_put(&m, items[1].key, &items[3]), 0); /* replace */
	assert_ptr_equal(hmap_get(&m, "k1"), &items[3]);
	assert_int_equal(m.n, 10000);
	hmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
