/* corefx.h - the fixture of the job manager's tests: a scratch MEDIA_DIR,
 * records written on disk as an earlier daemon (or the older manager) left
 * them, and a core opened over them at a time the test passes in. */
#ifndef MIXFS_COREFX_H
#define MIXFS_COREFX_H

#include "testutil.h"

#include "mixfs/core.h"
#include "mixfs/store.h"

#define HOUR UTIL_MS_PER_HOUR
#define T0 ((util_ms)1796007600000LL) /* 2026-11-30T03:00:00Z */

struct fx {
	char *media;
	char outputs[4096];
	struct store st;	/* for writing fixtures, unlocked */
	struct core *core;
};

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	f->media = tu_tmpdir();
	snprintf(f->outputs, sizeof(f->outputs), "%s/.mix_outputs", f->media);
	/* the fixture writes as an earlier daemon did; the core under test
	 * takes the lock for itself */
	assert_int_equal(store_open(&f->st, f->media, f->outputs, err, sizeof(err)), 0);
	close(f->st.lock_fd);
	f->st.lock_fd = -1;
	assert_int_equal(store_session_create(&f->st, "s1", (uid_t)-1, (gid_t)-1), 0);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	core_close(f->core);
	store_close(&f->st);
	tu_rm_rf(f->media);
	free(f->media);
	free(f);
	return 0;
}

/* A record as a previous run left it; a complete job gets its output. */
static inline void put_job(struct fx *f, const char *sid, enum job_state st, util_ms updated,
		    char id[JOB_ID_LEN + 1])
{
	struct job j;
	char path[STORE_PATH_MAX];

	job_init_new(&j, sid, updated, 0);
	j.state = st;
	if (job_state_is_final(st))
		j.finished_at = updated;
	if (st == JOB_COMPLETE) {
		assert_int_equal(store_output_dir(&f->st, sid), 0);
		assert_int_equal(store_output_path(&f->st, sid, j.id, path), 0);
		tu_write(path, "RIFF....WAVE");
		job_set_str(&j.output, path);
	}
	assert_int_equal(store_write_job(&f->st, &j), 0);
	memcpy(id, j.id, JOB_ID_LEN + 1);
	job_clear(&j);
}

static inline void open_core(struct fx *f, util_ms now)
{
	struct core_config cfg = {
		.media_dir = f->media, .outputs_dir = f->outputs,
		.ttls = { 48 * HOUR, 24 * HOUR },
	};
	char err[256];

	assert_int_equal(core_open(&f->core, &cfg, now, err, sizeof(err)), 0);
}

static inline int record_exists(struct fx *f, const char *sid, const char *id)
{
	return tu_exists("%s/%s/jobs/%s.json", f->media, sid, id);
}

static inline int index_exists(struct fx *f, const char *id)
{
	return tu_exists("%s/jobs_index/%s.json", f->media, id);
}

static inline int output_exists(struct fx *f, const char *sid, const char *id)
{
	return tu_exists("%s/%s/jobs/%s.wav", f->outputs, sid, id);
}

#endif
