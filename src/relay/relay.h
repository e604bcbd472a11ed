/* Layer relay (src/relay/): admission, backends and failover, dispatch,
 * the queue, the exchange with the upstream, translation routing. */
/* relay.h - one upstream exchange with usage accounting, shared by
 * call.php (destination: the client) and the queue worker (destination: a
 * capped buffer stored in the queue row).
 *
 * SSE responses are parsed as they pass; bytes go to the destination up to
 * the end of the last complete event and are flushed at once, so a client
 * never sees half an event when the upstream dies mid-stream (it gets a
 * final `event: error` instead). Memory stays bounded for any length. */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stddef.h>
#include "err.h"
#include "sse.h"
#include "up.h"

struct relay_dest {
	/* Called once with the status and content type to send; sse = 1 for
	 * an event stream. Non-zero return = destination gone. */
	int (*start)(void *ctx, int status, const char *content_type, int sse);
	int (*write)(void *ctx, const char *p, size_t n);
	int (*flush)(void *ctx);
	void *ctx;
	/* Optional, used instead of start() when set: also gets the upstream's
	 * allow-listed headers ("name: value\r\n" lines, see hdrpass.h). */
	int (*start_hdr)(void *ctx, int status, const char *content_type,
			 int sse, const char *up_headers);
};

struct relay_outcome {
	int status;            /* HTTP status for the log: the upstream's, or
				  502 when it failed before answering */
	int started;           /* the destination got start() */
	int sse;
	enum relay_err err;    /* RE_OK, RE_EUPSTREAM, RE_ECLIENT, RE_EINVAL */
	char error[300];       /* for the log row; "" when fine */
	struct usage usage;
	long latency_ms;
	double ttfb_ms;
	unsigned long long bytes;
	int retry_after;       /* upstream's Retry-After seconds, -1 if none */
	/* The Responses API's id of the answer (POST /v1/responses: the
	 * top-level "id" of a JSON answer, or "response"."id" of a stream's
	 * events), "" when none: bound to its member (issue 25 point 13). */
	char resp_id[192];
};

/* Largest non-stream body kept in memory to read its usage; bigger bodies
 * still pass through, but their usage is not parsed (and flagged). */
#define RELAY_USAGE_COPY_MAX (16u * 1024 * 1024)

/* Runs the exchange. Never returns before the upstream transfer ended. */
void relay_exchange(struct up *u, const struct up_req *rq,
		    const struct relay_dest *d, struct relay_outcome *oc);

#endif
