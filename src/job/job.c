/*
 * job.c - job states and their transitions, and the record's JSON form.
 *
 * The state machine. Every job is created queued (an accepted request) or
 * directly in error (a request that failed validation: the text is kept).
 *
 *   queued -> loading_stems -> aligning_stems -> processing_tracks
 *          -> mixing -> mastering -> exporting -> complete
 *
 *   any active state -> error      (a failure, or "cancelled")
 *   any active state -> queued     (requeued: shutdown, or found active at
 *                                   mount after a crash)
 *
 * Invariants, asserted in job_set_state():
 *   1. A stage only moves forward (a later stage may be skipped to, never an
 *      earlier one), except the requeue above.
 *   2. complete is reached only from exporting.
 *   3. complete and error are final: nothing leaves them.
 *   4. A final job has finished_at and expires_at; an active one has neither.
 */
#include "mixfs/job.h"

#include <assert.h>
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "mixfs/request.h"

static const char *const job_state_names[JOB_STATE_COUNT] = {
	"queued", "loading_stems", "aligning_stems", "processing_tracks",
	"mixing", "mastering", "exporting", "complete", "error",
};

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < JOB_STATE_COUNT ? job_state_names[s] : NULL;
}

int job_state_parse(const char *name, enum job_state *out)
{
	for (int i = 0; i < JOB_STATE_COUNT; i++) {
		if (strcmp(name, job_state_names[i]) == 0) {
			*out = (enum job_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool job_state_is_final(enum job_state s)
{
	return s == JOB_COMPLETE || s == JOB_ERROR;
}

bool job_state_is_active(enum job_state s)
{
	return (unsigned)s < JOB_COMPLETE;
}

bool job_transition_allowed(enum job_state from, enum job_state to)
{
	if (!job_state_is_active(from) || (unsigned)to >= JOB_STATE_COUNT)
		return false;
	if (to == JOB_ERROR)
		return true;
	if (to == JOB_COMPLETE)
		return from == JOB_EXPORTING;
	if (to == JOB_QUEUED)
		return from != JOB_QUEUED;
	return to > from;
}

void job_set_state(struct job *j, enum job_state to, util_ms now,
		   util_ms complete_ttl, util_ms failed_ttl)
{
	assert(job_transition_allowed(j->state, to));
	if (j->state == JOB_QUEUED && to != JOB_ERROR && !j->started_at)
		j->started_at = now;
	j->state = to;
	j->updated_at = now;
	if (job_state_is_final(to)) {
		j->finished_at = now;
		j->expires_at = now + (to == JOB_COMPLETE ? complete_ttl : failed_ttl);
	}
	assert(job_state_is_final(j->state) == (j->finished_at != 0));
}

void job_init_new(struct job *j, const char *session, util_ms now, long owner_uid)
{
	uuid_t u;

	memset(j, 0, sizeof(*j));
	uuid_generate(u);
	uuid_unparse_lower(u, j->id);
	snprintf(j->session, sizeof(j->session), "%s", session);
	j->state = JOB_QUEUED;
	j->created_at = now;
	j->updated_at = now;
	j->owner_uid = owner_uid;
}

void job_clear(struct job *j)
{
	free(j->request_name);
	free(j->request_text);
	free(j->error);
	free(j->output);
	free(j->log);
	memset(j, 0, sizeof(*j));
}

int job_set_str(char **field, const char *val)
{
	char *copy = NULL;

	if (val && !(copy = strdup(val)))
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int job_copy(struct job *dst, const struct job *src)
{
	*dst = *src;
	dst->request_name = dst->request_text = dst->error = dst->output = dst->log = NULL;
	if (job_set_str(&dst->request_name, src->request_name) ||
	    job_set_str(&dst->request_text, src->request_text) ||
	    job_set_str(&dst->error, src->error) ||
	    job_set_str(&dst->output, src->output) ||
	    job_set_str(&dst->log, src->log)) {
		job_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

bool job_host_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > JOB_HOST_MAX || s[0] == '.')
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	return true;
}

bool job_id_valid(const char *s)
{
	uuid_t u;

	if (strlen(s) != JOB_ID_LEN || uuid_parse(s, u) != 0)
		return false;
	for (const char *p = s; *p; p++)
		if (isupper((unsigned char)*p))
			return false;
	return true;
}

/* ---- JSON out ---- */

static cJSON *json_time(util_ms t)
{
	char iso[UTIL_ISO_MAX];

	if (!t)
		return cJSON_CreateNull();
	util_iso_format(t, iso);
	return cJSON_CreateString(iso);
}

static cJSON *json_str(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *json_result(const struct job_result *r)
{
	cJSON *o, *offs;

	if (!r->present)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "duration_s", r->duration_s);
	cJSON_AddNumberToObject(o, "sample_rate", r->sample_rate);
	cJSON_AddNumberToObject(o, "channels", r->channels);
	cJSON_AddNumberToObject(o, "integrated_lufs", r->integrated_lufs);
	cJSON_AddNumberToObject(o, "true_peak_dbtp", r->true_peak_dbtp);
	cJSON_AddNumberToObject(o, "gain_db", r->gain_db);
	cJSON_AddNumberToObject(o, "loudness_range_lu", r->loudness_range_lu);
	cJSON_AddNumberToObject(o, "max_gain_reduction_db", r->max_gain_reduction_db);
	cJSON_AddNumberToObject(o, "target_missed_lu", r->target_missed_lu);
	offs = cJSON_AddArrayToObject(o, "offsets_ms");
	for (size_t i = 0; offs && i < r->n_offsets; i++)
		cJSON_AddItemToArray(offs, cJSON_CreateNumber(r->offsets_ms[i]));
	return o;
}

static int json_depth(const cJSON *v)
{
	int deepest = 0;

	for (const cJSON *c = v->child; c; c = c->next) {
		int d = json_depth(c);

		deepest = d > deepest ? d : deepest;
	}
	return 1 + deepest;
}

/* The request as submitted: an object when it parses as one no deeper than
 * a request may be, else null (the exact text is kept in request_text
 * either way). Nesting it in the record adds a level, and a record must
 * read back. */
static cJSON *json_request(const char *text)
{
	cJSON *req = text ? cJSON_Parse(text) : NULL;

	if (req && (!cJSON_IsObject(req) || json_depth(req) > REQUEST_MAX_DEPTH)) {
		cJSON_Delete(req);
		req = NULL;
	}
	return req ? req : cJSON_CreateNull();
}

char *job_to_json(const struct job *j)
{
	cJSON *o = cJSON_CreateObject();
	char *text, *out;
	size_t n;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "job_id", j->id);
	cJSON_AddStringToObject(o, "session_id", j->session);
	cJSON_AddStringToObject(o, "state", job_state_name(j->state));
	cJSON_AddNumberToObject(o, "progress", j->progress);
	cJSON_AddItemToObject(o, "created_at", json_time(j->created_at));
	cJSON_AddItemToObject(o, "updated_at", json_time(j->updated_at));
	cJSON_AddItemToObject(o, "started_at", json_time(j->started_at));
	cJSON_AddItemToObject(o, "finished_at", json_time(j->finished_at));
	cJSON_AddItemToObject(o, "expires_at", json_time(j->expires_at));
	cJSON_AddItemToObject(o, "request_name", json_str(j->request_name));
	cJSON_AddItemToObject(o, "request", json_request(j->request_text));
	cJSON_AddItemToObject(o, "request_text", json_str(j->request_text));
	cJSON_AddItemToObject(o, "error", json_str(j->error));
	cJSON_AddNumberToObject(o, "attempts", j->attempts);
	if (j->owner_uid >= 0)
		cJSON_AddNumberToObject(o, "owner_uid", (double)j->owner_uid);
	else
		cJSON_AddNullToObject(o, "owner_uid");
	if (j->host[0])
		cJSON_AddStringToObject(o, "host", j->host);
	cJSON_AddItemToObject(o, "output", json_str(j->output));
	cJSON_AddItemToObject(o, "log", json_str(j->log));
	cJSON_AddItemToObject(o, "result", json_result(&j->result));
	text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		return NULL;
	n = strlen(text);
	if (n + 2 > JOB_JSON_MAX) {
		free(text); /* a record no reader would take back */
		return NULL;
	}
	out = realloc(text, n + 2);
	if (!out) {
		free(text);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

/* ---- JSON in ---- */

/* A JSON number brought into [lo, hi] before it is converted: a record may
 * say 1e300, and converting a double out of the target's range is
 * undefined. */
static double json_clamp(double v, double lo, double hi)
{
	return v >= lo ? (v <= hi ? v : hi) : lo;
}


struct rd {
	const cJSON *o;
	char *err;
	size_t errlen;
	int rc;
};

static void rd_fail(struct rd *r, const char *key, const char *what)
{
	if (!r->rc)
		snprintf(r->err, r->errlen, "%s: %s", key, what);
	r->rc = -EINVAL;
}

/* Optional string: missing or null leaves *out NULL. */
static void rd_str(struct rd *r, const char *key, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->o, key);

	if (!v || cJSON_IsNull(v))
		return;
	if (!cJSON_IsString(v)) {
		rd_fail(r, key, "not a string");
		return;
	}
	if (job_set_str(out, v->valuestring))
		rd_fail(r, key, "out of memory");
}

static void rd_time(struct rd *r, const char *key, bool required, util_ms *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->o, key);

	if (!v || cJSON_IsNull(v)) {
		if (required)
			rd_fail(r, key, "missing");
		return;
	}
	if (!cJSON_IsString(v) || util_iso_parse(v->valuestring, out))
		rd_fail(r, key, "not an ISO 8601 timestamp");
}

static void rd_num(struct rd *r, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->o, key);

	if (!v || cJSON_IsNull(v))
		return;
	if (!cJSON_IsNumber(v))
		rd_fail(r, key, "not a number");
	else
		*out = v->valuedouble;
}

static void rd_fixed(struct rd *r, const char *key, char *out, size_t cap, bool (*ok)(const char *))
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->o, key);

	if (!v || !cJSON_IsString(v))
		rd_fail(r, key, "missing or not a string");
	else if (!ok(v->valuestring) || strlen(v->valuestring) >= cap)
		rd_fail(r, key, "not a valid value");
	else
		memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
}

static void rd_result(struct rd *r, struct job_result *res)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->o, "result");
	const cJSON *offs, *it;
	struct rd sub = { v, r->err, r->errlen, 0 };
	double rate = 0, ch = 0;

	if (!v || cJSON_IsNull(v))
		return;
	if (!cJSON_IsObject(v)) {
		rd_fail(r, "result", "not an object");
		return;
	}
	res->present = true;
	rd_num(&sub, "duration_s", &res->duration_s);
	rd_num(&sub, "sample_rate", &rate);
	rd_num(&sub, "channels", &ch);
	rd_num(&sub, "integrated_lufs", &res->integrated_lufs);
	rd_num(&sub, "true_peak_dbtp", &res->true_peak_dbtp);
	rd_num(&sub, "gain_db", &res->gain_db);
	rd_num(&sub, "loudness_range_lu", &res->loudness_range_lu);
	rd_num(&sub, "max_gain_reduction_db", &res->max_gain_reduction_db);
	rd_num(&sub, "target_missed_lu", &res->target_missed_lu);
	res->sample_rate = (int)json_clamp(rate, 0, 10000000);
	res->channels = (int)json_clamp(ch, 0, 64);
	offs = cJSON_GetObjectItemCaseSensitive(v, "offsets_ms");
	cJSON_ArrayForEach(it, offs) {
		if (res->n_offsets < JOB_MAX_OFFSETS && cJSON_IsNumber(it))
			res->offsets_ms[res->n_offsets++] = it->valuedouble;
	}
	if (sub.rc)
		r->rc = sub.rc;
}

/* Older writers stored the request only as an object: keep its text. */
static void rd_request(struct rd *r, struct job *j)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->o, "request");

	rd_str(r, "request_text", &j->request_text);
	if (j->request_text || !v || cJSON_IsNull(v))
		return;
	j->request_text = cJSON_Print(v);
	if (!j->request_text)
		rd_fail(r, "request", "out of memory");
}

int job_from_json(const char *text, struct job *out, char *err, size_t errlen)
{
	cJSON *o = cJSON_Parse(text);
	struct rd r = { o, err, errlen, 0 };
	const cJSON *st;
	double progress = 0, attempts = 0, uid = -1;

	memset(out, 0, sizeof(*out));
	out->owner_uid = -1;
	if (!o || !cJSON_IsObject(o)) {
		snprintf(err, errlen, "not a JSON object");
		cJSON_Delete(o);
		return -EINVAL;
	}
	rd_fixed(&r, "job_id", out->id, sizeof(out->id), job_id_valid);
	rd_fixed(&r, "session_id", out->session, sizeof(out->session), util_valid_session_id);
	st = cJSON_GetObjectItemCaseSensitive(o, "state");
	if (!cJSON_IsString(st) || job_state_parse(st->valuestring, &out->state))
		rd_fail(&r, "state", "missing or not a job state");
	rd_time(&r, "updated_at", true, &out->updated_at);
	rd_time(&r, "created_at", false, &out->created_at);
	rd_time(&r, "started_at", false, &out->started_at);
	rd_time(&r, "finished_at", false, &out->finished_at);
	rd_time(&r, "expires_at", false, &out->expires_at);
	rd_num(&r, "progress", &progress);
	rd_num(&r, "attempts", &attempts);
	rd_num(&r, "owner_uid", &uid);
	rd_str(&r, "request_name", &out->request_name);
	if ((st = cJSON_GetObjectItemCaseSensitive(o, "host")) && !cJSON_IsNull(st))
		rd_fixed(&r, "host", out->host, sizeof(out->host), job_host_valid);
	rd_request(&r, out);
	rd_str(&r, "error", &out->error);
	rd_str(&r, "output", &out->output);
	rd_str(&r, "log", &out->log);
	rd_result(&r, &out->result);
	cJSON_Delete(o);
	if (r.rc) {
		job_clear(out);
		return r.rc;
	}
	out->progress = (int)json_clamp(progress, 0, 100);
	out->attempts = (int)json_clamp(attempts, 0, 1000000);
	out->owner_uid = (long)json_clamp(uid, -1, 4294967295.0);
	if (!out->created_at)
		out->created_at = out->updated_at;
	/* A final record from an older writer has no finished_at: derive it
	 * so invariant 4 holds for every record in memory. */
	if (job_state_is_final(out->state) && !out->finished_at)
		out->finished_at = out->updated_at;
	if (!job_state_is_final(out->state))
		out->finished_at = out->expires_at = 0;
	return 0;
}
