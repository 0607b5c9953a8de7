/*
 * job.h - the job record (SPEC section 3): its states, the transitions the
 * daemon may make between them, and its JSON form on disk.
 *
 * The record is plain data. Who may touch a live record, and under which
 * lock, is the job manager's business (core.h); this module never locks.
 */
#ifndef MIXFS_JOB_H
#define MIXFS_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mixfs/util.h"

enum job_state {
	JOB_QUEUED,
	JOB_LOADING_STEMS,
	JOB_ALIGNING_STEMS,
	JOB_PROCESSING_TRACKS,
	JOB_MIXING,
	JOB_MASTERING,
	JOB_EXPORTING,
	JOB_COMPLETE,
	JOB_ERROR,
	JOB_STATE_COUNT
};

#define JOB_ID_LEN 36 /* lowercase RFC 4122 UUID text, without the NUL */
#define JOB_SESSION_MAX 128
#define JOB_MAX_OFFSETS 64
#define JOB_HOST_MAX 63 /* a host name (SPEC 9): [A-Za-z0-9._-], not starting with "." */
/* The largest record job_to_json() writes and job readers take back. A
 * request of at most 1 MiB is in it twice (as text and as the object), each
 * byte escaped to at most 6 ("\u0001"): 12 MiB, and the rest is small. */
#define JOB_JSON_MAX (16 * 1024 * 1024)

struct job_result {
	bool present;
	double duration_s;
	int sample_rate;
	int channels;
	double integrated_lufs;
	double true_peak_dbtp;
	double gain_db;
	double loudness_range_lu;
	double max_gain_reduction_db;
	double target_missed_lu;
	/* The offsets used, per stem in plan order (after "auto" refinement). */
	size_t n_offsets;
	double offsets_ms[JOB_MAX_OFFSETS];
};

struct job {
	char id[JOB_ID_LEN + 1];
	char session[JOB_SESSION_MAX + 1];
	enum job_state state;
	int progress;		/* 0-100, never down within an attempt */
	util_ms created_at;
	util_ms updated_at;
	util_ms started_at;	/* 0 = never started */
	util_ms finished_at;	/* 0 = not final */
	util_ms expires_at;	/* 0 = not final */
	int attempts;
	long owner_uid;		/* -1 = unknown (older records) */
	char host[JOB_HOST_MAX + 1];	/* the host of the latest attempt; "" on one host */
	char *request_name;	/* owned; may be NULL */
	char *request_text;	/* owned; the bytes as submitted; may be NULL */
	char *error;		/* owned; NULL unless state is error */
	char *output;		/* owned; path of this job's own mix, or NULL */
	char *log;		/* owned; one line per stage, or NULL */
	struct job_result result;
};

/* "queued", "mixing", ...; NULL for an out-of-range value. */
const char *job_state_name(enum job_state s);
/* Returns 0 and sets *out, or -EINVAL for an unknown name. */
int job_state_parse(const char *name, enum job_state *out);
bool job_state_is_final(enum job_state s);
bool job_state_is_active(enum job_state s);

/* Whether the daemon may move a job from @from to @to (see job.c). */
bool job_transition_allowed(enum job_state from, enum job_state to);

/*
 * Move @j to @to at time @now: asserts the transition is allowed, stamps
 * updated_at, and on a final state finished_at and expires_at (from the
 * matching TTL in ms). A job that was never started gets started_at when
 * it first leaves queued for a stage.
 */
void job_set_state(struct job *j, enum job_state to, util_ms now,
		   util_ms complete_ttl, util_ms failed_ttl);

/* Fill @j as a fresh record with a new id from libuuid. Strings stay NULL. */
void job_init_new(struct job *j, const char *session, util_ms now, long owner_uid);

/* Free the strings @j owns and zero it. */
void job_clear(struct job *j);

/* Deep copy @src into @dst (which is overwritten, not cleared).
 * Returns 0 or -ENOMEM (then @dst holds nothing to free). */
int job_copy(struct job *dst, const struct job *src);

/* Replace an owned string field; @val may be NULL. Returns 0 or -ENOMEM. */
int job_set_str(char **field, const char *val);

/*
 * The record as JSON text (pretty, newline-terminated), malloc'd for the
 * caller to free; NULL on allocation failure.
 */
char *job_to_json(const struct job *j);

/*
 * Parse a record. Only job_id, session_id, state and updated_at are
 * required; everything else takes its default when missing. Returns 0, or
 * -EINVAL with a message in @err naming what is wrong.
 */
int job_from_json(const char *text, struct job *out, char *err, size_t errlen);

/* Whether @s looks like a job id (lowercase UUID). */
bool job_id_valid(const char *s);
/* A cluster host name: 1-63 of [A-Za-z0-9._-], not starting with ".". */
bool job_host_valid(const char *s);

#endif
