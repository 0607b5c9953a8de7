/*
 * request.c - strict request validation. Each value is checked by a small
 * table-driven reader; the first error wins and names its key path, such as
 * "stems[2].gain_db".
 */
#include "mixfs/request.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixfs/util.h"

struct rq {
	char *err;
	size_t errlen;
	int rc;
	const char *text;	/* the request, to find a key's line */
	size_t len;
};

/* ---- where a key is: a scan of the (already valid) JSON text ---- */

struct scan {
	const char *p, *end;
	int line;
	const char *target;	/* the key path sought, e.g. "stems[2].gain_db" */
	int found;		/* its line, once seen */
	char path[256];
};

/* Whitespace as cJSON skips it: every byte up to and including ' '. */
static void scan_ws(struct scan *s)
{
	for (; s->p < s->end && (unsigned char)*s->p <= ' '; s->p++)
		s->line += *s->p == '\n';
}

/* Skip a string; copy up to @cap-1 of its raw bytes into @out if given. */
static void scan_string(struct scan *s, char *out, size_t cap)
{
	size_t n = 0;

	for (s->p++; s->p < s->end && *s->p != '"'; s->p++) {
		if (*s->p == '\\' && s->p + 1 < s->end)
			s->p++;
		if (out && n + 1 < cap)
			out[n++] = *s->p;
	}
	s->p++;
	if (out)
		out[n] = '\0';
}

static void scan_value(struct scan *s);

/* Visit a child named by @suffix: extend the path, note the line when it
 * is the target, scan the value, restore the path. */
static void scan_child(struct scan *s, const char *suffix)
{
	size_t keep = strlen(s->path);

	snprintf(s->path + keep, sizeof(s->path) - keep, "%s", suffix);
	if (!s->found && strcmp(s->path, s->target) == 0)
		s->found = s->line;
	scan_value(s);
	s->path[keep] = '\0';
}

static void scan_value(struct scan *s)
{
	char key[200], suffix[210];
	int i = 0;

	scan_ws(s);
	if (s->p >= s->end)
		return;
	if (*s->p == '"') {
		scan_string(s, NULL, 0);
	} else if (*s->p == '{' || *s->p == '[') {
		char close = *s->p == '{' ? '}' : ']';

		for (s->p++, scan_ws(s); s->p < s->end && *s->p != close; i++) {
			const char *before = s->p;

			if (close == '}') {
				scan_string(s, key, sizeof(key));
				scan_ws(s);
				s->p++; /* ':' */
				snprintf(suffix, sizeof(suffix), "%s%s", s->path[0] ? "." : "", key);
			} else {
				snprintf(suffix, sizeof(suffix), "[%d]", i);
			}
			scan_child(s, suffix);
			scan_ws(s);
			if (s->p < s->end && *s->p == ',')
				s->p++, scan_ws(s);
			if (s->p == before)
				return; /* not JSON as cJSON read it: give up, never spin */
		}
		s->p++;
	} else {
		while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
			s->p++;
	}
}

/* The line where @key (a path like "stems[2].gain_db") appears; for a
 * missing key, where its parent does; 0 if neither is found. */
static int request_key_line(const char *text, size_t len, const char *key)
{
	char target[256];
	char *cut;

	snprintf(target, sizeof(target), "%s", key);
	for (;;) {
		struct scan s = { .p = text, .end = text + len, .line = 1, .target = target };

		scan_value(&s);
		if (s.found)
			return s.found;
		cut = strrchr(target, '.');
		if (!cut || strrchr(target, '[') > cut)
			cut = strrchr(target, '[');
		if (!cut)
			return 0;
		*cut = '\0';
	}
}

static void rq_fail(struct rq *q, const char *key, const char *fmt, const char *detail)
{
	char what[160];
	int line;

	if (q->rc)
		return;
	snprintf(what, sizeof(what), fmt, detail);
	line = request_key_line(q->text, q->len, key);
	if (line)
		snprintf(q->err, q->errlen, "line %d: key \"%s\": %s", line, key, what);
	else
		snprintf(q->err, q->errlen, "key \"%s\": %s", key, what);
	q->rc = -EINVAL;
}

/* Every member of @o must be named in @allowed, and only once. */
static void rq_keys(struct rq *q, const cJSON *o, const char *prefix,
		    const char *const *allowed)
{
	for (const cJSON *it = o->child; it && !q->rc; it = it->next) {
		char key[128];
		bool known = false;

		snprintf(key, sizeof(key), "%s%s", prefix, it->string);
		for (const char *const *a = allowed; *a; a++)
			known |= strcmp(*a, it->string) == 0;
		if (!known)
			rq_fail(q, key, "%sunknown key", "");
		for (const cJSON *b = it->next; b && !q->rc; b = b->next)
			if (strcmp(b->string, it->string) == 0)
				rq_fail(q, key, "%sgiven twice", "");
	}
}

static void rq_number(struct rq *q, const cJSON *o, const char *name, const char *key,
		      double lo, double hi, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char range[64];

	if (!v)
		return;
	if (!cJSON_IsNumber(v)) {
		rq_fail(q, key, "%smust be a number", "");
		return;
	}
	if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
		snprintf(range, sizeof(range), "%g..%g", lo, hi);
		rq_fail(q, key, "out of range (%s)", range);
		return;
	}
	*out = v->valuedouble;
}

static void rq_bool(struct rq *q, const cJSON *o, const char *name, const char *key, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v)
		return;
	if (!cJSON_IsBool(v))
		rq_fail(q, key, "%smust be true or false", "");
	else
		*out = cJSON_IsTrue(v);
}

/* A stem name: a plain name, so it can only resolve inside stems/. Symlinks
 * that leave the session are refused when the engine opens the file. */
static void rq_filename(struct rq *q, const cJSON *v, const char *key, char *out)
{
	if (!cJSON_IsString(v)) {
		rq_fail(q, key, "%smust be a file name (a string)", "");
		return;
	}
	if (!util_valid_plain_name(v->valuestring) || v->valuestring[0] == '.') {
		rq_fail(q, key, "\"%s\" is not a plain file name inside stems/", v->valuestring);
		return;
	}
	snprintf(out, PLAN_NAME_MAX + 1, "%s", v->valuestring);
}

static void rq_eq_band(struct rq *q, const cJSON *o, const char *prefix, struct plan_eq *b)
{
	static const char *const keys[] = { "type", "freq_hz", "gain_db", "q", NULL };
	static const char *const types[] = { "peak", "lowshelf", "highshelf", "lowpass", NULL };
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
	char key[96];
	size_t k;

	if (!cJSON_IsObject(o)) {
		rq_fail(q, prefix, "%smust be an object", "");
		return;
	}
	snprintf(key, sizeof(key), "%s.", prefix);
	rq_keys(q, o, key, keys);
	snprintf(key, sizeof(key), "%s.type", prefix);
	for (k = 0; cJSON_IsString(t) && types[k] && strcmp(types[k], t->valuestring); k++)
		;
	if (!cJSON_IsString(t) || !types[k]) {
		rq_fail(q, key, "%smust be \"peak\", \"lowshelf\", \"highshelf\" or \"lowpass\"", "");
		return;
	}
	b->type = (enum plan_eq_type)k;
	snprintf(key, sizeof(key), "%s.freq_hz", prefix);
	if (!cJSON_GetObjectItemCaseSensitive(o, "freq_hz"))
		rq_fail(q, key, "%smissing", "");
	rq_number(q, o, "freq_hz", key, 10, 192000, &b->freq_hz);
	snprintf(key, sizeof(key), "%s.gain_db", prefix);
	if (b->type == PLAN_EQ_LOWPASS && cJSON_GetObjectItemCaseSensitive(o, "gain_db"))
		rq_fail(q, key, "%sa lowpass has no gain", "");
	else if (b->type != PLAN_EQ_LOWPASS && !cJSON_GetObjectItemCaseSensitive(o, "gain_db"))
		rq_fail(q, key, "%smissing", "");
	rq_number(q, o, "gain_db", key, -24, 24, &b->gain_db);
	snprintf(key, sizeof(key), "%s.q", prefix);
	if ((b->type == PLAN_EQ_LOWSHELF || b->type == PLAN_EQ_HIGHSHELF) &&
	    cJSON_GetObjectItemCaseSensitive(o, "q"))
		rq_fail(q, key, "%sshelves have a slope of 1, not a q", "");
	rq_number(q, o, "q", key, 0.1, 10, &b->q);
}

static void rq_eq(struct rq *q, const cJSON *o, const char *prefix, struct plan_stem *s)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "eq");
	char key[64];
	size_t n = 0;

	snprintf(key, sizeof(key), "%seq", prefix);
	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		rq_fail(q, key, "%smust be an array of bands", "");
		return;
	}
	for (const cJSON *b = v->child; b && !q->rc; b = b->next, n++) {
		char band[80];

		if (n >= PLAN_MAX_EQ) {
			rq_fail(q, key, "more than %s bands", "8");
			return;
		}
		snprintf(band, sizeof(band), "%s[%zu]", key, n);
		rq_eq_band(q, b, band, &s->eq[n]);
	}
	s->n_eq = n;
}

static void rq_compressor(struct rq *q, const cJSON *o, const char *prefix, struct plan_comp *c)
{
	static const char *const keys[] = { "threshold_db", "ratio", "attack_ms", "release_ms",
					    "knee_db", "makeup_db", NULL };
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "compressor");
	char key[96], sub[64];

	snprintf(key, sizeof(key), "%scompressor", prefix);
	if (!v || cJSON_IsNull(v))
		return;
	if (!cJSON_IsObject(v)) {
		rq_fail(q, key, "%smust be an object", "");
		return;
	}
	snprintf(sub, sizeof(sub), "%s.", key);
	rq_keys(q, v, sub, keys);
	*c = (struct plan_comp){ true, -18, 3, 10, 120, 0, 0 };
	for (const char *const *k = keys; *k; k++) {
		static const double lo[] = { -60, 1, 0.1, 1, 0, 0 }, hi[] = { 0, 20, 500, 5000, 24, 24 };
		double *dst[] = { &c->threshold_db, &c->ratio, &c->attack_ms, &c->release_ms,
				  &c->knee_db, &c->makeup_db };
		size_t i = (size_t)(k - keys);

		snprintf(key, sizeof(key), "%scompressor.%s", prefix, *k);
		rq_number(q, v, *k, key, lo[i], hi[i], dst[i]);
	}
}

/* invert, highpass_hz, eq, compressor, fade_in_ms, fade_out_ms (SPEC 7a) */
static void rq_processing(struct rq *q, const cJSON *o, const char *prefix, struct plan_stem *s)
{
	const cJSON *hp = cJSON_GetObjectItemCaseSensitive(o, "highpass_hz");
	char key[64];

	snprintf(key, sizeof(key), "%sinvert", prefix);
	rq_bool(q, o, "invert", key, &s->invert);
	snprintf(key, sizeof(key), "%shighpass_hz", prefix);
	if (!cJSON_IsNull(hp))
		rq_number(q, o, "highpass_hz", key, 10, 1000, &s->highpass_hz);
	rq_eq(q, o, prefix, s);
	rq_compressor(q, o, prefix, &s->comp);
	snprintf(key, sizeof(key), "%sfade_in_ms", prefix);
	rq_number(q, o, "fade_in_ms", key, 0, 24.0 * 3600 * 1000, &s->fade_in_ms);
	snprintf(key, sizeof(key), "%sfade_out_ms", prefix);
	rq_number(q, o, "fade_out_ms", key, 0, 24.0 * 3600 * 1000, &s->fade_out_ms);
}

static void rq_stem(struct rq *q, const cJSON *o, size_t i, struct plan_stem *s)
{
	static const char *const keys[] = { "file", "gain_db", "pan", "offset_ms",
					    "mute", "solo", "invert", "highpass_hz", "eq",
					    "compressor", "fade_in_ms", "fade_out_ms", NULL };
	char prefix[40], key[64];

	snprintf(prefix, sizeof(prefix), "stems[%zu].", i);
	if (!cJSON_IsObject(o)) {
		snprintf(key, sizeof(key), "stems[%zu]", i);
		rq_fail(q, key, "%smust be an object", "");
		return;
	}
	rq_keys(q, o, prefix, keys);
	snprintf(key, sizeof(key), "%sfile", prefix);
	if (!cJSON_GetObjectItemCaseSensitive(o, "file"))
		rq_fail(q, key, "%smissing", "");
	else
		rq_filename(q, cJSON_GetObjectItemCaseSensitive(o, "file"), key, s->file);
	snprintf(key, sizeof(key), "%sgain_db", prefix);
	rq_number(q, o, "gain_db", key, -120, 24, &s->gain_db);
	snprintf(key, sizeof(key), "%span", prefix);
	rq_number(q, o, "pan", key, -1, 1, &s->pan);
	snprintf(key, sizeof(key), "%soffset_ms", prefix);
	rq_number(q, o, "offset_ms", key, 0, 24.0 * 3600 * 1000, &s->offset_ms);
	snprintf(key, sizeof(key), "%smute", prefix);
	rq_bool(q, o, "mute", key, &s->mute);
	snprintf(key, sizeof(key), "%ssolo", prefix);
	rq_bool(q, o, "solo", key, &s->solo);
	rq_processing(q, o, prefix, s);
}

static void rq_stems(struct rq *q, const cJSON *v, struct plan *p)
{
	size_t n;

	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		rq_fail(q, "stems", "%smust be an array", "");
		return;
	}
	n = (size_t)cJSON_GetArraySize(v);
	if (n == 0) {
		rq_fail(q, "stems", "%smust list at least one stem", "");
		return;
	}
	if (n > PLAN_MAX_STEMS) {
		char what[80];

		snprintf(what, sizeof(what), "lists %zu stems; a mix takes at most %d", n,
			 PLAN_MAX_STEMS);
		rq_fail(q, "stems", "%s", what);
		return;
	}
	p->stems = calloc(n, sizeof(*p->stems));
	if (!p->stems) {
		rq_fail(q, "stems", "%sout of memory", "");
		return;
	}
	p->n_stems = n;
	p->all_stems = false;
	for (size_t i = 0; i < n && !q->rc; i++)
		rq_stem(q, cJSON_GetArrayItem(v, (int)i), i, &p->stems[i]);
	for (size_t i = 0; i < n && !q->rc; i++)
		for (size_t k = i + 1; k < n; k++)
			if (strcmp(p->stems[i].file, p->stems[k].file) == 0) {
				char key[40];

				snprintf(key, sizeof(key), "stems[%zu].file", k);
				rq_fail(q, key, "\"%s\" is listed twice", p->stems[k].file);
				break;
			}
}

static void rq_align(struct rq *q, const cJSON *o, struct plan *p)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "align");
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(o, "reference");

	if (a) {
		if (cJSON_IsString(a) && strcmp(a->valuestring, "offsets") == 0)
			p->align = PLAN_ALIGN_OFFSETS;
		else if (cJSON_IsString(a) && strcmp(a->valuestring, "auto") == 0)
			p->align = PLAN_ALIGN_AUTO;
		else
			rq_fail(q, "align", "%smust be \"offsets\" or \"auto\"", "");
	}
	if (ref)
		rq_filename(q, ref, "reference", p->reference);
	if (p->align == PLAN_ALIGN_AUTO && !ref)
		rq_fail(q, "reference", "%srequired when align is \"auto\"", "");
	rq_number(q, o, "align_window_ms", "align_window_ms", 1, 10000, &p->align_window_ms);
}

static void rq_master(struct rq *q, const cJSON *v, struct plan *p)
{
	static const char *const keys[] = { "target_lufs", "true_peak_dbtp", "mode", NULL };
	const cJSON *mode;

	if (!v)
		return;
	if (cJSON_IsNull(v)) {
		p->master = false;
		return;
	}
	if (!cJSON_IsObject(v)) {
		rq_fail(q, "master", "%smust be an object or null", "");
		return;
	}
	rq_keys(q, v, "master.", keys);
	rq_number(q, v, "target_lufs", "master.target_lufs", -40, -5, &p->target_lufs);
	rq_number(q, v, "true_peak_dbtp", "master.true_peak_dbtp", -12, 0, &p->true_peak_dbtp);
	if (!(mode = cJSON_GetObjectItemCaseSensitive(v, "mode")))
		return;
	if (cJSON_IsString(mode) && strcmp(mode->valuestring, "limit") == 0)
		p->master_mode = PLAN_MASTER_LIMIT;
	else if (cJSON_IsString(mode) && strcmp(mode->valuestring, "normalize") == 0)
		p->master_mode = PLAN_MASTER_NORMALIZE;
	else
		rq_fail(q, "master.mode", "%smust be \"limit\" or \"normalize\"", "");
}

static void rq_output(struct rq *q, const cJSON *v, struct plan *p)
{
	static const char *const keys[] = { "format", "bit_depth", NULL };
	const cJSON *fmt;
	double depth = 24;

	if (!v)
		return;
	if (!cJSON_IsObject(v)) {
		rq_fail(q, "output", "%smust be an object", "");
		return;
	}
	rq_keys(q, v, "output.", keys);
	fmt = cJSON_GetObjectItemCaseSensitive(v, "format");
	if (fmt && cJSON_IsString(fmt) && strcmp(fmt->valuestring, "flac") == 0)
		p->format = PLAN_FMT_FLAC;
	else if (fmt && !(cJSON_IsString(fmt) && strcmp(fmt->valuestring, "wav") == 0))
		rq_fail(q, "output.format", "%smust be \"wav\" or \"flac\"", "");
	rq_number(q, v, "bit_depth", "output.bit_depth", 16, 32, &depth);
	if (q->rc)
		return;
	if (depth != 16 && depth != 24 && depth != 32)
		rq_fail(q, "output.bit_depth", "%smust be 16, 24 or 32", "");
	else if (depth == 32 && p->format == PLAN_FMT_FLAC)
		rq_fail(q, "output.bit_depth", "%sFLAC takes 16 or 24", "");
	p->bit_depth = (int)depth;
}

/* The first place nesting goes deeper than REQUEST_MAX_DEPTH, or NULL.
 * Brackets inside strings do not count. */
static const char *rq_too_deep(const char *text, size_t len)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > REQUEST_MAX_DEPTH)
				return text + i;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return NULL;
}

static int rq_line_of(const struct rq *q, const char *at)
{
	int line = 1;

	for (const char *p = q->text; p < at; p++)
		line += *p == '\n';
	return line;
}

/* cJSON reports where parsing stopped; users want a line number. */
static void rq_syntax_error(struct rq *q, const char *end)
{
	const char *stop = q->text + q->len;
	int line;

	if (!end || end < q->text || end > stop)
		end = stop;
	line = rq_line_of(q, end);
	if (end == stop)
		snprintf(q->err, q->errlen, "line %d: JSON syntax error: the text ends early",
			 line);
	else
		snprintf(q->err, q->errlen, "line %d: JSON syntax error near \"%.*s\"", line,
			 (int)(stop - end < 20 ? stop - end : 20), end);
	q->rc = -EINVAL;
}

int request_parse(const char *text, size_t len, struct plan *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "stems", "align", "reference", "align_window_ms",
					    "sample_rate", "master", "output", NULL };
	struct rq q = { err, errlen, 0, text, len };
	const char *end = NULL;
	cJSON *o;
	double rate = 0;

	plan_init_default(out);
	if (errlen)
		err[0] = '\0';
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "a request is JSON text; this has NUL bytes");
		return -EINVAL;
	}
	if ((end = rq_too_deep(text, len))) {
		snprintf(err, errlen, "line %d: nested deeper than %d levels; a request "
			 "needs 3", rq_line_of(&q, end), REQUEST_MAX_DEPTH);
		return -EINVAL;
	}
	o = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!o) {
		rq_syntax_error(&q, end ? end : cJSON_GetErrorPtr());
		return q.rc;
	}
	while (end && end < text + len && (unsigned char)*end <= ' ')
		end++;
	if (end && end < text + len) {
		rq_syntax_error(&q, end); /* something after the object */
		cJSON_Delete(o);
		return q.rc;
	}
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "line 1: a request is a JSON object ({...})");
		q.rc = -EINVAL;
		goto out;
	}
	rq_keys(&q, o, "", keys);
	rq_stems(&q, cJSON_GetObjectItemCaseSensitive(o, "stems"), out);
	rq_align(&q, o, out);
	rq_number(&q, o, "sample_rate", "sample_rate", 8000, 384000, &rate);
	if (!q.rc && rate != floor(rate))
		rq_fail(&q, "sample_rate", "%smust be a whole number", "");
	out->sample_rate = (int)rate;
	rq_master(&q, cJSON_GetObjectItemCaseSensitive(o, "master"), out);
	rq_output(&q, cJSON_GetObjectItemCaseSensitive(o, "output"), out);
out:
	cJSON_Delete(o);
	if (q.rc)
		plan_clear(out);
	return q.rc;
}

int request_name_is_draft(const char *name)
{
	static const char *const suffixes[] = { "~", ".tmp", ".part", ".swp", NULL };
	size_t n = strlen(name);

	if (name[0] == '.')
		return 1;
	for (const char *const *s = suffixes; *s; s++) {
		size_t k = strlen(*s);

		if (n >= k && strcmp(name + n - k, *s) == 0)
			return 1;
	}
	return 0;
}
