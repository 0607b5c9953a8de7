/* plan.c - see plan.h. */
#include "mixfs/plan.h"

#include <stdlib.h>
#include <string.h>

void plan_init_default(struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->all_stems = true;
	p->align = PLAN_ALIGN_OFFSETS;
	p->align_window_ms = 500.0;
	p->master = true;
	p->target_lufs = -14.0;
	p->true_peak_dbtp = -1.0;
	p->format = PLAN_FMT_WAV;
	p->bit_depth = 24;
}

void plan_clear(struct plan *p)
{
	free(p->stems);
	plan_init_default(p);
}
