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
#include <stddef.h>

#include "fmt.h"
#include "relay.h"
#include "slot.h"
#include "up.h"
#include "web.h"

struct app;
struct auth_user;
struct json_object;
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
	const char *up_path;      /* appended to a table backend's base URL
				     ("/chat/completions", "/v1/messages", a
				     route's path); backend 0 uses rq->url */
	struct xroute *xl;        /* NULL = pass-through; else the exchange
				     is translated (xroute.h, issue 14) */
};

/* Meters a request that was admitted (its request counted) and ended:
 * oc is the exchange's outcome or NULL when it never went upstream; the
 * slot (may be NULL or not held) is released in the same round trip. */
void exchange_meter(const struct exch *x, int status, const char *error,
		    const struct relay_outcome *oc, struct slot *s);

/* Forwards x->rq holding slot s on the backend that slot belongs to,
 * answers the client, ends the response, then meters once (on the backend
 * that served it, with the failed tries before) and logs one line. A try
 * that fails before anything reached the client (connect error, timeout
 * before the first byte, an upstream 429/5xx) goes to another backend
 * that serves the model and has a free slot, up to backend_max_tries. */
void exchange_forward(const struct exch *x, struct slot *s);

/* POST /v1/responses on one upstream account shared by every member
 * (issue 25 point 13): background: true is refused with 400 (its work
 * and usage happen after the answer, where the relay cannot meter them),
 * and a previous_response_id that is not one of this member's own
 * responses (exchange_forward records them) gets OpenAI's 404, as if it
 * did not exist. Returns 0 to go on, or the status to refuse with (400,
 * 404) with why and *code (OpenAI's error code, static) set; the door
 * answers and the pipeline meters. `req` is the parsed body (borrowed). */
int exchange_responses_check(const struct exch *x, struct json_object *req,
			     char *why, size_t whylen, const char **code);

#endif
