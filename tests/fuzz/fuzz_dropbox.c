/* fuzz_dropbox.c - libFuzzer target: any bytes as a sequence of drop box
 * operations (create, write, truncate, rename, unlink, get, put, snapshot)
 * over two sessions and a few names, drafts among them, as the kernel may
 * order them. No operation may crash or leak, a session never lists a name
 * twice, and a drop never holds more than the request cap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/fs/fs_impl.h"
#include "mixfs/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "a.json", "b.json", ".a.json.swp", "a.json~", "x.tmp",
				     "4913", "c.json" };
#define N_NAMES (sizeof(names) / sizeof(*names))
#define N_HELD 8

static void check_listing(struct drop_box *box, const char *sid)
{
	char **v;
	size_t n;

	if (drop_names(box, sid, &v, &n))
		return;
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (!strcmp(v[i], v[k]))
				abort();
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void step(struct drop_box *box, struct drop **held, uint8_t op, uint8_t a, uint8_t b, uint8_t c)
{
	const char *sid = (a & 1) ? "s2" : "s1";
	const char *name = names[(a >> 1) % N_NAMES], *other = names[b % N_NAMES];
	struct drop **h = &held[c % N_HELD];
	char buf[300], *snap;
	size_t len;
	bool l, d, big;

	switch (op % 9) {
	case 0: if (!*h) *h = drop_create(box, sid, name, 1000, 100, 0644); break;
	case 1: if (!*h) *h = drop_get(box, sid, name); break;
	case 2: if (*h) { drop_put(*h); *h = NULL; } break;
	case 3: drop_unlink(box, sid, name); break;
	case 4: drop_rename(box, sid, name, other); break;
	case 5:
		if (*h) {
			memset(buf, b, sizeof(buf));
			drop_write(*h, buf, (size_t)(c % 200), (off_t)b * ((op & 0x80) ? 8192 : 1));
		}
		break;
	case 6: if (*h) drop_truncate(*h, (off_t)b * ((op & 0x80) ? 16384 : 1)); break;
	case 7:
		if (*h && !drop_snapshot(*h, &snap, &len, &d)) {
			if (len > REQUEST_MAX_BYTES)
				abort();
			free(snap);
			drop_mark_clean(*h);
		}
		break;
	case 8: if (*h) drop_flags(*h, buf, &l, &d, &big); break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drop *held[N_HELD] = { 0 };
	struct drop_box b, *box = &b;

	if (drop_box_init(box))
		abort();
	for (size_t i = 0; i + 4 <= size; i += 4) {
		step(box, held, data[i], data[i + 1], data[i + 2], data[i + 3]);
		check_listing(box, "s1");
		check_listing(box, "s2");
	}
	for (size_t i = 0; i < N_HELD; i++)
		if (held[i])
			drop_put(held[i]);
	drop_box_release(box);
	return 0;
}
