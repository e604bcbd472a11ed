/* waitout.h - the client side of a request that may have waited inline.
 *
 * A streaming waiter gets `200 text/event-stream` and ": queued, position N"
 * comment lines while it waits (so no client or proxy idles out); from then
 * on nothing can change the status line, and an upstream error must reach
 * the client as an SSE error event in the route's own format. This module
 * is a relay_dest that passes everything through unchanged until then, and
 * turns a late non-2xx or non-SSE answer into one error event. */
#ifndef RELAY_WAITOUT_H
#define RELAY_WAITOUT_H

#include "buf.h"
#include "relay.h"
#include "web.h"

/* Writes one SSE error event (status = the upstream's or ours, message in
 * the route's language) to an event stream that is already open. */
typedef void (*waitout_sse_error_fn)(struct web_req *r, int status,
				     const char *message);

struct waitout {
	struct web_req *r;
	int stream;                    /* the request asked for a stream */
	waitout_sse_error_fn sse_error;
	/* private */
	int late_err;                  /* answer collected for an error event */
	int status;
	struct buf err;                /* its body (capped) */
};

/* Prepares w; the caller keeps r. waitout_free releases the buffer. */
void waitout_init(struct waitout *w, struct web_req *r, int stream,
		  waitout_sse_error_fn sse_error);
void waitout_free(struct waitout *w);

/* dispatch_tick_fn: opens the event stream and writes the queue comment for
 * a streaming request; only watches the client otherwise. */
int waitout_tick(void *ctx, long long position);

/* The relay_dest to forward through. */
void waitout_dest(struct waitout *w, struct relay_dest *d);

/* After relay_exchange: if the stream was already open and the exchange
 * failed or answered an error, writes the error event. Returns 1 when the
 * client got its answer here or through the exchange (nothing left to
 * say), 0 when the caller still has to answer (headers not out yet). */
int waitout_finish(struct waitout *w, const struct relay_outcome *oc);

/* 1 once the event stream was opened by a tick. */
int waitout_open(const struct waitout *w);

#endif
