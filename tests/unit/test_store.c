/* test_store.c - atomic records, the MEDIA_DIR lock, crash leftovers. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "mixfs/store.h"

#define REWRITES 10000

struct torn_ctx {
	char path[4096];
	atomic_bool done;
	long reads, torn;
};

/* Reads the record as another process would, as fast as it can. */
static void *reader(void *arg)
{
	struct torn_ctx *t = arg;

	while (!atomic_load(&t->done)) {
		char *text, err[128];
		size_t n;
		struct job j;

		if (util_read_file_alloc(t->path, 1 << 20, &text, &n) != 0)
			continue;
		if (job_from_json(text, &j, err, sizeof(err)) != 0)
			t->torn++;
		else
			job_clear(&j);
		t->reads++;
		free(text);
	}
	return NULL;
}

static void test_no_torn_record_in_10000_rewrites(void **state)
{
	char *media = tu_tmpdir(), err[256], outputs[4200];
	struct store st;
	struct torn_ctx t = { .done = false };
	pthread_t th;
	struct job j;
	static char big[8192];

	(void)state;
	snprintf(outputs, sizeof(outputs), "%s/out", media);
	assert_int_equal(store_open(&st, media, outputs, err, sizeof(err)), 0);
	assert_int_equal(store_session_create(&st, "s1", (uid_t)-1, (gid_t)-1), 0);
	job_init_new(&j, "s1", 1796007600000LL, 0);
	assert_int_equal(store_write_job(&st, &j), 0);
	assert_int_equal(store_record_path(&st, "s1", j.id, t.path), 0);
	memset(big, 'x', sizeof(big) - 1);
	assert_int_equal(pthread_create(&th, NULL, reader, &t), 0);
	for (int i = 0; i < REWRITES; i++) {
		/* records of very different sizes, so a torn one cannot parse */
		job_set_str(&j.request_text, i % 2 ? big : "{}");
		j.progress = i % 101;
		assert_int_equal(store_write_record(&st, &j), 0);
	}
	atomic_store(&t.done, true);
	pthread_join(th, NULL);
	assert_true(t.reads > 0);
	assert_int_equal(t.torn, 0);
	job_clear(&j);
	store_close(&st);
	tu_rm_rf(media);
	free(media);
}

static void test_second_daemon_is_refused_and_told_the_holder(void **state)
{
	char *media = tu_tmpdir(), err[256], outputs[4200], want[64];
	struct store st, second;
	int pipefd[2], status;
	pid_t pid;

	(void)state;
	snprintf(outputs, sizeof(outputs), "%s/out", media);
	assert_int_equal(store_open(&st, media, outputs, err, sizeof(err)), 0);
	/* even within one process */
	assert_int_equal(store_open(&second, media, outputs, err, sizeof(err)), -EBUSY);
	snprintf(want, sizeof(want), "pid %ld", (long)getpid());
	assert_non_null(strstr(err, want));
	/* and from another process */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		int rc = store_open(&second, media, outputs, err, sizeof(err));
		ssize_t w = write(pipefd[1], err, strlen(err) + 1);

		_exit(rc == -EBUSY && w > 0 ? 0 : 1);
	}
	assert_true(waitpid(pid, &status, 0) == pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(read(pipefd[0], err, sizeof(err)) > 0);
	assert_non_null(strstr(err, want));
	close(pipefd[0]);
	close(pipefd[1]);
	/* released on close */
	store_close(&st);
	assert_int_equal(store_open(&second, media, outputs, err, sizeof(err)), 0);
	store_close(&second);
	tu_rm_rf(media);
	free(media);
}

static void on_record(void *ctx, struct job *j)
{
	(*(int *)ctx)++;
	job_clear(j);
}

static void on_corrupt(void *ctx, const char *sid, const char *jid, const char *path,
		       util_ms mtime, const char *why)
{
	(void)ctx;
	(void)sid;
	(void)jid;
	(void)path;
	(void)mtime;
	(void)why;
}

static void test_load_sweeps_interrupted_writes(void **state)
{
	char *media = tu_tmpdir(), err[256], outputs[4200], path[4400];
	struct store st;
	struct job j;
	int count = 0;
	struct store_visitor v = { on_record, on_corrupt, &count };

	(void)state;
	snprintf(outputs, sizeof(outputs), "%s/out", media);
	assert_int_equal(store_open(&st, media, outputs, err, sizeof(err)), 0);
	assert_int_equal(store_session_create(&st, "s1", (uid_t)-1, (gid_t)-1), 0);
	assert_int_equal(store_output_dir(&st, "s1"), 0);
	job_init_new(&j, "s1", 1796007600000LL, 0);
	assert_int_equal(store_write_job(&st, &j), 0);
	snprintf(path, sizeof(path), "%s/s1/jobs/.%s.json.tmp.AbCdEf", media, j.id);
	tu_write(path, "{\"job_id\":");
	snprintf(path, sizeof(path), "%s/s1/jobs/.%s.wav.tmp.123", outputs, j.id);
	tu_write(path, "RIFF");
	snprintf(path, sizeof(path), "%s/s1/jobs/keep.wav", outputs);
	tu_write(path, "RIFF");
	assert_int_equal(store_load(&st, &v), 0);
	assert_int_equal(count, 1);
	assert_false(tu_exists("%s/s1/jobs/.%s.json.tmp.AbCdEf", media, j.id));
	assert_false(tu_exists("%s/s1/jobs/.%s.wav.tmp.123", outputs, j.id));
	assert_true(tu_exists("%s", path));
	job_clear(&j);
	store_close(&st);
	tu_rm_rf(media);
	free(media);
}

static void test_missing_media_dir_is_named(void **state)
{
	struct store st;
	char err[256];

	(void)state;
	assert_int_equal(store_open(&st, "/nonexistent/media", "/tmp/x", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/media"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_torn_record_in_10000_rewrites),
		cmocka_unit_test(test_second_daemon_is_refused_and_told_the_holder),
		cmocka_unit_test(test_load_sweeps_interrupted_writes),
		cmocka_unit_test(test_missing_media_dir_is_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
