/* relay.c - upstream exchange with pass-through, SSE framing and usage. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <json-c/json.h>
#include "buf.h"
#include "log.h"
#include "relay.h"
#include "resp.h"

struct relay_run {
	const struct relay_dest *d;
	const struct up_req *rq;
	struct relay_outcome *oc;
	const struct up_result *ur;   /* the transfer's headers so far */
	struct sse_parser sse;
	struct buf hold;      /* SSE bytes after the last complete event */
	struct buf copy;      /* non-stream body copy for usage */
	unsigned long long sent;  /* SSE stream offset written so far */
	int dest_gone;
};

static double relay_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int relay_is_sse(const char *ct)
{
	return strncasecmp(ct, "text/event-stream", 17) == 0;
}

static int relay_on_start(void *ctx, long status, const char *content_type)
{
	struct relay_run *x = ctx;
	const char *ct = content_type;

	x->oc->status = (int)status;
	x->oc->sse = relay_is_sse(ct) ||
		(x->rq->stream && !*ct && status >= 200 && status < 300);
	if (x->oc->sse && !*ct)
		ct = "text/event-stream";
	if (!*ct)
		ct = "application/json";
	x->oc->started = 1;
	if (x->d->start_hdr ?
	    x->d->start_hdr(x->d->ctx, (int)status, ct, x->oc->sse,
			    x->ur->headers) :
	    x->d->start(x->d->ctx, (int)status, ct, x->oc->sse)) {
		x->dest_gone = 1;
		return -1;
	}
	return 0;
}

/* Writes what the parser has confirmed as complete events. */
static int relay_push_events(struct relay_run *x)
{
	size_t n = (size_t)(x->sse.event_end - x->sent);

	if (n == 0)
		return 0;
	if (x->d->write(x->d->ctx, x->hold.data, n) || x->d->flush(x->d->ctx)) {
		x->dest_gone = 1;
		return -1;
	}
	buf_consume(&x->hold, n);
	x->sent += n;
	return 0;
}

static int relay_on_data(void *ctx, const char *p, size_t n)
{
	struct relay_run *x = ctx;

	if (!x->oc->sse) {
		if (x->copy.len + n <= x->copy.max)
			buf_append(&x->copy, p, n);
		else
			x->copy.max = 0;  /* too big: give up on usage */
		if (x->d->write(x->d->ctx, p, n)) {
			x->dest_gone = 1;
			return -1;
		}
		return 0;
	}
	sse_feed(&x->sse, p, n);
	if (buf_append(&x->hold, p, n))
		return -1;
	if (x->hold.len > SSE_MAX_EVENT + 65536) {
		/* An event too large to hold: pass its bytes through rather
		 * than grow without bound. */
		if (x->d->write(x->d->ctx, x->hold.data, x->hold.len) ||
		    x->d->flush(x->d->ctx)) {
			x->dest_gone = 1;
			return -1;
		}
		x->sent += x->hold.len;
		buf_reset(&x->hold);
		if (x->sse.event_end < x->sent)
			x->sse.event_end = x->sent;
		return 0;
	}
	return relay_push_events(x);
}

/* Ends a started event stream cleanly after an upstream failure. */
static void relay_sse_error(struct relay_run *x, const char *why)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	struct buf b;

	json_object_object_add(e, "type", json_object_new_string("upstream_error"));
	json_object_object_add(e, "message", json_object_new_string(why));
	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "error", e);
	buf_init(&b, 4096);
	if (!buf_printf(&b, "event: error\ndata: %s\n\n",
			json_object_to_json_string_ext(o, RESP_JSON_FLAGS)))
		if (!x->d->write(x->d->ctx, b.data, b.len))
			x->d->flush(x->d->ctx);
	buf_free(&b);
	json_object_put(o);
}

void relay_exchange(struct up *u, const struct up_req *rq,
		    const struct relay_dest *d, struct relay_outcome *oc)
{
	struct up_sink sink = { relay_on_start, relay_on_data, NULL };
	struct up_result ur;
	struct relay_run x;
	double t0 = relay_now_ms();
	enum relay_err rc;

	memset(oc, 0, sizeof(*oc));
	memset(&x, 0, sizeof(x));
	x.d = d;
	x.rq = rq;
	x.oc = oc;
	sse_init(&x.sse);
	/* hold has no cap of its own: the parser skips oversize events, and
	 * relay_on_data passes through anything longer than one event. */
	buf_init(&x.hold, (size_t)-2);
	buf_init(&x.copy, RELAY_USAGE_COPY_MAX);
	sink.ctx = &x;
	x.ur = &ur;

	rc = up_forward(u, rq, &sink, &ur);
	oc->err = rc;
	oc->ttfb_ms = ur.ttfb_ms;
	oc->bytes = ur.bytes;
	oc->retry_after = ur.retry_after;
	if (rc == RE_OK) {
		if (oc->sse && x.hold.len) {
			/* The upstream ended without a final blank line:
			 * deliver the rest as it came, and read its usage. */
			if (d->write(d->ctx, x.hold.data, x.hold.len) == 0)
				d->flush(d->ctx);
			sse_feed(&x.sse, "\n\n", 2);
		}
		if (!oc->sse)
			d->flush(d->ctx);
	} else if (rc == RE_EUPSTREAM) {
		snprintf(oc->error, sizeof(oc->error), "%s", ur.error);
		if (!oc->started)
			oc->status = 502;
		else if (oc->sse)
			relay_sse_error(&x, ur.error);
		log_warn("upstream failed (%s) after %llu bytes", ur.error, ur.bytes);
	} else if (rc == RE_ECLIENT) {
		snprintf(oc->error, sizeof(oc->error), "client disconnected");
		log_info("client went away after %llu bytes; upstream transfer stopped",
			 ur.bytes);
	} else {
		snprintf(oc->error, sizeof(oc->error), "%s", ur.error);
		oc->status = rc == RE_EINVAL ? 400 : 500;
	}
	if (oc->sse)
		oc->usage = x.sse.usage;
	else if (x.copy.max && x.copy.len)
		usage_from_json(x.copy.data, x.copy.len, &oc->usage);
	if (oc->sse && rc == RE_OK && x.sse.error_event && !oc->error[0])
		snprintf(oc->error, sizeof(oc->error), "upstream sent an error event");
	oc->latency_ms = (long)(relay_now_ms() - t0);
	sse_free(&x.sse);
	buf_free(&x.hold);
	buf_free(&x.copy);
}
