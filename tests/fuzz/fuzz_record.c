/* fuzz_record.c - libFuzzer target: any bytes as a job record. A record
 * that loads must write back and load again to the same state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mixfs/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[256], *again;
	struct job j, k;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (job_from_json(text, &j, err, sizeof(err)) == 0) {
		again = job_to_json(&j);
		if (!again || job_from_json(again, &k, err, sizeof(err)) != 0 ||
		    k.state != j.state || strcmp(k.id, j.id) != 0 || k.updated_at != j.updated_at)
			abort();
		job_clear(&k);
		free(again);
		job_clear(&j);
	}
	free(text);
	return 0;
}
