/* fuzz_request.c - libFuzzer target: any bytes as a request. It must be
 * judged, never crash, and a valid plan must hold only plain stem names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mixfs/request.h"
#include "mixfs/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[REQUEST_ERR_MAX];
	struct plan p;

	if (request_parse((const char *)data, size, &p, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < p.n_stems; i++)
			if (!util_valid_plain_name(p.stems[i].file) || p.stems[i].file[0] == '.')
				abort();
		plan_clear(&p);
	} else if (!err[0]) {
		abort(); /* an error must say something */
	}
	return 0;
}
