/* xroute.h - the translated exchange of an SDK route (issue 14): the seam
 * between the pure translator (xlate.h, xsse.h) and the relay.
 *
 * Pass-through stays the default: only when the route's own format has no
 * upstream (no URL configured) and the other format has one does
 * xroute_setup translate the request (decision: xlate_wanted and the
 * `translate` setting), so a backend's `mode` can later take its place.
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

struct cfg;
struct exch;
struct route;
struct slot;
struct json_object;

struct xroute {
	int on;                     /* the exchange is translated */
	enum fmt_kind client, upstream;
	struct xlate_opts o;
	struct xlate_info info;
	struct xlate_note note;
	struct buf body;            /* the translated request */
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
};

enum xroute_rc {
	XR_OK = 0,        /* translated: x->xl set, url filled */
	XR_NONE = -1,     /* no translation possible (nothing changed) */
	XR_REFUSED = -2   /* the request cannot be translated: answered 400
			     in the client's format and metered */
};

void xroute_init(struct xroute *t);

/* The route rt has no upstream in its own format: translates req (the
 * client's parsed body, borrowed) for the other format's upstream if
 * allowed, writing that upstream's URL into url (cap bytes) and setting
 * x->xl = t. On XR_REFUSED the client got a 400 and the request was
 * metered with slot s released. */
enum xroute_rc xroute_setup(struct xroute *t, struct exch *x,
			    const struct cfg *c, const struct route *rt,
			    struct json_object *req, char *url, size_t cap,
			    struct slot *s);

/* Points rq at the translated body and format and returns the wrapper to
 * give relay_exchange in place of inner (which must outlive the call). */
const struct relay_dest *xroute_wrap(struct xroute *t, struct up_req *rq,
				     const struct relay_dest *inner);

/* After relay_exchange: sends what is still owed to the client (the
 * translated non-stream answer, or a clean stream's closing events). */
void xroute_end(struct xroute *t, const struct relay_outcome *oc);

void xroute_free(struct xroute *t);

#endif
