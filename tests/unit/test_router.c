/*
 * test_router.c - the path router on hostile names: whatever bytes the
 * kernel hands over as a name, a lookup finds the node it names or
 * ENOENT, never another node and never a path outside the tree; and the
 * names a user may give new files.
 */
#include "corefx.h"

#include <errno.h>

#include "../../src/fs/router.h"

struct rfx {
	struct fx *f;
	struct mixfs_fs fs;
	char jid[JOB_ID_LEN + 1];
};

static int rsetup(void **state)
{
	struct rfx *r = calloc(1, sizeof(*r));
	char err[256];

	setup((void **)&r->f);
	open_core(r->f, T0);
	r->fs.core = r->f->core;
	assert_int_equal(nodes_init(&r->fs.nodes), 0);
	assert_int_equal(drop_box_init(&r->fs.drops), 0);
	assert_int_equal(core_submit(r->fs.core, &(struct core_request){ "s1", "take.json", "{}", 2, 0 },
				 T0, r->jid, err, sizeof(err)), 0);
	*state = r;
	return 0;
}

static int rteardown(void **state)
{
	struct rfx *r = *state;

	drop_box_release(&r->fs.drops);
	nodes_release(&r->fs.nodes);
	teardown((void **)&r->f);
	free(r);
	return 0;
}

/* The child @name of the node (@kind, @sid, @jid): its kind, or -errno. */
static int route(struct rfx *r, enum node_kind kind, const char *sid, const char *jid,
		 const char *name)
{
	struct node p, c;
	int rc;

	if (kind == N_ROOT)
		rc = nodes_find(&r->fs.nodes, FS_INO_ROOT, &p);
	else
		rc = nodes_get(&r->fs.nodes, kind, sid, jid, NULL, 0, &p);
	assert_int_equal(rc, 0);
	rc = child_of(&r->fs, &p, name, &c);
	return rc ? rc : (int)c.kind;
}

static void test_hostile_names_find_nothing(void **state)
{
	struct rfx *r = *state;
	char long_name[400], link_name[64];
	static const char *const hostile[] = {
		"", ".", "..", "../README", "/", "s1/../s1", "s1/", "jobs_index", ".hidden",
		"s1\n", "s\xff", "README/", "README\n",
	};

	memset(long_name, 's', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(route(r, N_ROOT, NULL, NULL, "README"), N_README);
	assert_int_equal(route(r, N_SESSIONS, NULL, NULL, "s1"), N_SESSION);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(*hostile); i++) {
		assert_int_equal(route(r, N_ROOT, NULL, NULL, hostile[i]), -ENOENT);
		assert_int_equal(route(r, N_SESSIONS, NULL, NULL, hostile[i]), -ENOENT);
		assert_int_equal(route(r, N_JOB_LINKS, NULL, NULL, hostile[i]), -ENOENT);
		assert_int_equal(route(r, N_SESSION_JOBS, "s1", NULL, hostile[i]), -ENOENT);
		assert_int_equal(route(r, N_JOB, "s1", r->jid, hostile[i]), -ENOENT);
	}
	assert_int_equal(route(r, N_SESSIONS, NULL, NULL, long_name), -ENOENT);
	assert_int_equal(route(r, N_SESSION, "s1", NULL, "stems"), N_STEMS);
	assert_int_equal(route(r, N_SESSION, "s1", NULL, "stems/../jobs"), -ENOENT);
	assert_int_equal(route(r, N_SESSION_JOBS, "s1", NULL, r->jid), N_JOB);
	assert_int_equal(route(r, N_JOB_LINKS, NULL, NULL, r->jid), N_JOB_LINK);
	assert_int_equal(route(r, N_JOB, "s1", r->jid, "state"), N_JOB_FILE);
	assert_int_equal(route(r, N_JOB, "s1", r->jid, "../state"), -ENOENT);
	assert_int_equal(route(r, N_REQUESTS, "s1", NULL, "take.json"), N_REQUEST_FILE);
	snprintf(link_name, sizeof(link_name), "%.35sX", r->jid); /* not a job id */
	assert_int_equal(route(r, N_JOB_LINKS, NULL, NULL, link_name), -ENOENT);
	assert_int_equal(route(r, N_SESSIONS, NULL, NULL, "s2"), -ENOENT);
}

static void test_new_names(void **state)
{
	struct rfx *r = *state;
	struct node req, stems;
	char long_name[300];

	assert_int_equal(nodes_get(&r->fs.nodes, N_REQUESTS, "s1", NULL, NULL, 0, &req), 0);
	assert_int_equal(nodes_get(&r->fs.nodes, N_STEMS, "s1", NULL, NULL, 0, &stems), 0);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(new_name_check(&req, "take2.json"), 0);
	assert_int_equal(new_name_check(&req, long_name), -ENAMETOOLONG);
	assert_int_equal(new_name_check(&req, "a/b"), -EINVAL);
	assert_int_equal(new_name_check(&req, ".."), -EINVAL);
	assert_int_equal(new_name_check(&req, "bad\xff.json"), -EILSEQ);
	assert_int_equal(new_name_check(&req, "a\nb.json"), -EILSEQ);
	assert_int_equal(new_name_check(&stems, "bad\xff.wav"), 0); /* a file, not a record */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hostile_names_find_nothing, rsetup, rteardown),
		cmocka_unit_test_setup_teardown(test_new_names, rsetup, rteardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
