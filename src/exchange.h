/* exchange.h - "forward while holding a slot, then meter once", shared by
 * call.php and the SDK routes.
 *
 * The answer goes straight to the client. The slot is released in the same
 * round trip as the metering (relay_finish), after the client already has
 * its answer (web_finish). Errors before the upstream answered are written
 * in the door's own format: the seed's {"success":false,...} for call.php,
 * OpenAI/Anthropic bodies for the SDK routes. When a waiter's SSE headers
 * are already out (queue comments, dispatch.h), an upstream error status
 * becomes an SSE error event in the route's format instead. */
#ifndef RELAY_EXCHANGE_H
#define RELAY_EXCHANGE_H

#include "fmt.h"
#include "relay.h"
#include "slot.h"
#include "up.h"
#include "web.h"

struct app;
struct auth_user;
struct xroute;

struct exch {
	struct app *a;
	struct web_req *r;
	const struct auth_user *u;
	const struct up_req *rq;
	const char *model;
	const char *route;        /* request_log.route ("call", "chat", ...) */
	int v1;                   /* 1 = SDK route errors, 0 = call.php's */
	enum fmt_kind errfmt;     /* format of the SDK route's errors */
	const char *own_headers;  /* NULL or the caller's allowance lines,
				     added to a 2xx answer */
	long long queue_id;       /* the dispatcher's row, 0 = none */
	struct xroute *xl;        /* NULL = pass-through; else the exchange
				     is translated (xroute.h, issue 14) */
};

/* Meters a request that was admitted (its request counted) and ended:
 * oc is the exchange's outcome or NULL when it never went upstream; the
 * slot (may be NULL or not held) is released in the same round trip. */
void exchange_meter(const struct exch *x, int status, const char *error,
		    const struct relay_outcome *oc, struct slot *s);

/* Forwards x->rq holding slot s, answers the client, ends the response,
 * then meters once and logs one line. */
void exchange_forward(const struct exch *x, struct slot *s);

#endif
