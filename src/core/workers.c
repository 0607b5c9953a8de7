/* workers.c - the worker threads (see core.h). */
#include <errno.h>

#include "core_impl.h"

int core_workers_start(struct core *c)
{
	return c->cfg.workers ? -ENOSYS : 0;
}

void core_workers_stop(struct core *c)
{
	(void)c;
}
