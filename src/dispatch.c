/* dispatch.c - inline waiting (stub until the dispatcher lands: every
 * waiter is answered as if the queue were full). */
#include <string.h>
#include "dispatch.h"

enum dispatch_result dispatch_wait(struct app *a, struct web_req *r,
				   const struct dispatch_req *q, int max_wait_s,
				   dispatch_tick_fn tick, void *tick_ctx,
				   struct slot *s, long long *id)
{
	(void)a; (void)r; (void)q; (void)max_wait_s; (void)tick; (void)tick_ctx;
	memset(s, 0, sizeof(*s));
	*id = 0;
	return DISPATCH_FULL;
}
