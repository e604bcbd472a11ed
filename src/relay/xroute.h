/* xroute.h - the translated exchange of an SDK route (issue 14): the seam
 * between the pure translator (xlate.h, xsse.h) and the relay.
 *
 * Pass-through stays the default: only when no backend serves the model in
 * the route's own format and one of the other format serves it and allows
 * translation (its mode 'translate'; the default backend by the
 * `translate` setting) is the request translated: xroute_pick decides,
 * before the admission, so the slot taken is one of such a backend.
 * exchange_forward then sends the translated body and puts a relay_dest
 * wrapper (xroute_wrap) between the exchange and the client:
 *   - an event stream is translated event by event as the relay writes
 *     complete events, and flushed at once;
 *   - a non-stream answer (held whole by the relay anyway) is translated
 *     at its end (xroute_end), an error answer into the client's error
 *     format.
 * The relay's own parser keeps metering the upstream's bytes; request_log
 * records translated = 1.
 *
 * Ownership: the struct lives in the route handler's frame, owns its
 * buffers and translator; xroute_free releases them (also when setup was
 * never called, after xroute_init). */
#ifndef RELAY_XROUTE_H
#define RELAY_XROUTE_H

#include <stddef.h>
#include "buf.h"
#include "fmt.h"
#include "relay.h"
#include "xlate.h"
#include "xsse.h"
#include "xlrs.h"

struct cfg;
struct route;
struct json_object;

struct xroute {
	int on;                     /* the exchange is translated */
	int refusal;                /* XR_REFUSED: the status to answer */
	char why[300];              /* XR_REFUSED: the message */
	enum fmt_kind client, upstream;
	struct xlate_opts o;
	struct xlate_info info;
	struct xlate_note note;
	struct buf body;            /* the translated request */
	char url[2300];             /* the default backend's URL for the
				       other format ("" = it has none) */
	const char *up_path;        /* the other format's route path, for a
				       table backend's base URL */
	/* the wrapper */
	const struct relay_dest *inner;
	struct relay_dest outer;
	int status;                 /* the upstream's, 0 before start */
	int streaming;              /* a 2xx event stream, translated live */
	int overflow;               /* non-stream answer past the hold cap */
	int gone;                   /* the client side failed */
	char headers[2048];         /* the upstream's allow-listed headers */
	struct buf held;            /* non-stream answer */
	struct buf out;             /* translated bytes of one write */
	struct xsse sse;
	/* POST /v1/responses to a chat-only backend (issue 26): the request
	 * is translated once (xroute_setup_rs); whether a try uses it is
	 * decided per backend (xroute_rs_use), so `on` changes per try */
	int rs;
	int rs_ready;               /* rsse is initialised */
	struct xrsse rsse;
};

enum xroute_rc {
	XR_OK = 0,        /* translated: url filled, the exchange's to use */
	XR_NONE = -1,     /* no translation possible (nothing changed) */
	XR_REFUSED = -2   /* the request cannot be translated: refusal and
			     why say how the door answers it */
};

void xroute_init(struct xroute *t);

struct backends;

/* The format to admit and forward a request of route rt for model in: the
 * route's own, or the other one when no enabled backend serves the model
 * in the route's format but one of the other format does and allows
 * translation. */
enum fmt_kind xroute_pick(const struct backends *bs, const struct cfg *c,
			  const struct route *rt, const char *model);

/* Translates req (the client's parsed body, borrowed) of route rt for the
 * other format (XR_NONE when rt has no peer route). On XR_OK the caller
 * hands t to its exchange (exch.xl); on XR_REFUSED t->refusal (400: the
 * request cannot be translated, 500: the translator failed) and t->why say
 * what to answer: answering and metering are the door's, not this layer's. */
enum xroute_rc xroute_setup(struct xroute *t, const struct cfg *c,
			    const struct route *rt, struct json_object *req);

/* /v1/responses -> Chat Completions: translates req (borrowed) once.
 * XR_OK: t->rs is set and t->on stays 0 until xroute_rs_use turns it on
 * for a try on a chat-only backend; XR_REFUSED as for xroute_setup. */
enum xroute_rc xroute_setup_rs(struct xroute *t, const struct cfg *c,
			       struct json_object *req);

/* Before each try of an exchange with t->rs: on = translate for this
 * backend (backend_rs_translates). */
void xroute_rs_use(struct xroute *t, int on);

/* Points rq at the translated body and format and returns the wrapper to
 * give relay_exchange in place of inner (which must outlive the call). */
const struct relay_dest *xroute_wrap(struct xroute *t, struct up_req *rq,
				     const struct relay_dest *inner);

/* After relay_exchange: sends what is still owed to the client (the
 * translated non-stream answer, or a clean stream's closing events). */
void xroute_end(struct xroute *t, const struct relay_outcome *oc);

void xroute_free(struct xroute *t);

#endif
