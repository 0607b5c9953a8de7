/*
 * request.h - a mix request (SPEC section 7) parsed and validated into a
 * plan, strictly: unknown keys, wrong types, duplicate keys and values out
 * of range are errors whose message names the key (and the line, for a
 * JSON syntax error). Stem names must be plain names inside stems/; at
 * most PLAN_MAX_STEMS stems; nesting at most REQUEST_MAX_DEPTH deep.
 */
#ifndef MIXFS_REQUEST_H
#define MIXFS_REQUEST_H

#include <stddef.h>

#include "mixfs/plan.h"

#define REQUEST_MAX_BYTES (1024 * 1024)
/* Deepest nesting of arrays and objects a request may have: a valid one
 * needs 3 ({"stems": [{...}]}), so anything past this is refused before it
 * is parsed, and no record holding one can exceed a reader's own limit. */
#define REQUEST_MAX_DEPTH 16
#define REQUEST_ERR_MAX 256

/*
 * Parse @len bytes of @text into @out (initialised here; plan_clear() it
 * on success). Returns 0, or -EINVAL with a one-line message in @err (of
 * @errlen bytes; REQUEST_ERR_MAX holds any) and nothing owned by @out.
 */
int request_parse(const char *text, size_t len, struct plan *out, char *err, size_t errlen);

/* Whether a name in requests/ is a draft that never enqueues: starts with
 * '.', or ends in '~', ".tmp", ".part", ".swp". */
int request_name_is_draft(const char *name);

#endif
