/* relay.c - upstream exchange with pass-through, SSE framing and usage. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <json-c/json.h>
#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "relay.h"
#include "resp.h"
#include "sopt.h"
#include "sse.h"
#include "tokest.h"

/* Usage-only chunks dropped per push; one per stream in practice. */
#define RELAY_DROPS 4

struct relay_run {
	const struct relay_dest *d;
	const struct up_req *rq;      /* the caller's request (its tick) */
	const struct cfg *cfg;
	struct relay_outcome *oc;
	const struct up_result *ur;   /* the transfer's headers so far */
	const char *ct;               /* content type for the destination */
	struct sse_parser sse;
	struct buf hold;      /* SSE bytes after the last complete event */
	struct buf copy;      /* non-stream body: held whole, then sent */
	struct buf tail;      /* non-stream body too big to hold: its last
				 SSE_TAIL bytes, where its usage is */
	long long plain_est;  /* estimated tokens of a non-stream body */
	unsigned long long sent;  /* SSE stream offset written so far */
	int pass;             /* non-stream body too big to hold: passing */
	int partial;          /* part of an oversize event is out */
	int filter_usage;     /* the relay asked for usage: drop that chunk */
	unsigned long long drop_s[RELAY_DROPS], drop_e[RELAY_DROPS];
	int ndrop;
	int dest_gone;
	double gone_at;           /* when the destination went away */
	unsigned long long drained;
	int drain_cut;            /* stopped at a drain bound */
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

/* The destination is gone (client hung up, or a worker's result cap). The
 * upstream is read on without forwarding, up to drain_max_seconds and
 * drain_max_bytes, so the usage it reports at the end is still metered
 * (new-api bills such streams as 0). Returns 0 to keep reading. */
static int relay_gone(struct relay_run *x)
{
	if (!x->dest_gone) {
		x->dest_gone = 1;
		x->gone_at = relay_now_ms();
	}
	if (x->cfg->drain_max_seconds <= 0 || x->cfg->drain_max_bytes <= 0) {
		x->drain_cut = 1;
		return -1;
	}
	return 0;
}

/* While draining: 0 to go on, -1 to stop (a bound, or the stream said it
 * is done, so nothing more will be reported). */
static int relay_drain_check(struct relay_run *x)
{
	if (x->oc->sse && x->sse.done)
		return -1;
	if (x->drained > (unsigned long long)x->cfg->drain_max_bytes ||
	    relay_now_ms() - x->gone_at > x->cfg->drain_max_seconds * 1000.0) {
		x->drain_cut = 1;
		return -1;
	}
	return 0;
}

/* Calls the destination's start once. */
static int relay_dest_start(struct relay_run *x)
{
	int status = x->oc->status;

	if (x->oc->started || x->dest_gone)
		return x->dest_gone ? -1 : 0;
	x->oc->started = 1;
	if (x->d->start_hdr ?
	    x->d->start_hdr(x->d->ctx, status, x->ct, x->oc->sse, x->ur->headers) :
	    x->d->start(x->d->ctx, status, x->ct, x->oc->sse))
	{
		relay_gone(x);
		return -1;
	}
	return 0;
}

/* A non-stream answer is held whole (up to RELAY_USAGE_COPY_MAX) before
 * the destination sees it, so an upstream that fails halfway gets a clean
 * 502 instead of a 200 with cut JSON. SSE starts at once. */
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
	x->ct = ct;
	if (!x->oc->sse)
		return 0;
	if (relay_dest_start(x))
		return relay_gone(x);
	return 0;
}

/* Notes the spans of usage-only chunks the client did not ask for. */
static void relay_on_event(void *ctx, unsigned long long start,
			   unsigned long long end, const char *data, size_t len)
{
	struct relay_run *x = ctx;

	if (x->filter_usage && x->ndrop < RELAY_DROPS && start >= x->sent &&
	    sopt_usage_only(data, len)) {
		x->drop_s[x->ndrop] = start;
		x->drop_e[x->ndrop] = end;
		x->ndrop++;
	}
}

static int relay_put(struct relay_run *x, const char *p, size_t n)
{
	return n ? x->d->write(x->d->ctx, p, n) : 0;
}

/* Writes what the parser has confirmed as complete events, without the
 * dropped spans. */
static int relay_push_events(struct relay_run *x)
{
	unsigned long long end = x->sse.event_end, at = x->sent;
	const char *base = x->hold.data;
	int i, rc = 0;

	if (end <= at)
		return 0;
	x->partial = 0;       /* a real event boundary was crossed */
	for (i = 0; i < x->ndrop && !rc; i++) {
		if (x->drop_s[i] < at || x->drop_e[i] > end)
			continue;
		rc = relay_put(x, base + (at - x->sent), (size_t)(x->drop_s[i] - at));
		at = x->drop_e[i];
	}
	x->ndrop = 0;
	if (!rc)
		rc = relay_put(x, base + (at - x->sent), (size_t)(end - at));
	buf_consume(&x->hold, (size_t)(end - x->sent));
	x->sent = end;
	if (rc || x->d->flush(x->d->ctx))
		return relay_gone(x);
	return 0;
}

/* Keeps the last SSE_TAIL bytes of a body passed through (usage comes
 * at the end of a JSON answer, issue 25 point 8). */
static void relay_keep_tail(struct relay_run *x, const char *p, size_t n)
{
	if (n >= SSE_TAIL) {
		buf_reset(&x->tail);
		buf_append(&x->tail, p + n - SSE_TAIL, SSE_TAIL);
		return;
	}
	if (x->tail.len + n > 2 * SSE_TAIL)
		buf_consume(&x->tail, x->tail.len + n - SSE_TAIL);
	buf_append(&x->tail, p, n);
}

static int relay_on_plain(struct relay_run *x, const char *p, size_t n)
{
	x->plain_est = usage_add(x->plain_est, tokest_text(p, n));
	if (x->pass) {
		relay_keep_tail(x, p, n);
		return x->d->write(x->d->ctx, p, n) ? relay_gone(x) : 0;
	}
	if (x->copy.len + n <= x->copy.max)
		return buf_append(&x->copy, p, n) ? -1 : 0;
	/* Too big to hold: send what is held and pass the rest through;
	 * its usage is read from the tail kept of it. */
	x->pass = 1;
	relay_keep_tail(x, x->copy.data, x->copy.len);
	relay_keep_tail(x, p, n);
	if (relay_dest_start(x) || relay_put(x, x->copy.data, x->copy.len) ||
	    relay_put(x, p, n)) {
		buf_free(&x->copy);
		return relay_gone(x);
	}
	buf_free(&x->copy);
	return 0;
}

static int relay_on_data(void *ctx, const char *p, size_t n)
{
	struct relay_run *x = ctx;

	if (x->dest_gone) {
		x->drained += n;
		if (x->oc->sse) {
			sse_feed(&x->sse, p, n);
		} else {
			x->plain_est = usage_add(x->plain_est, tokest_text(p, n));
			if (!x->pass && x->copy.len + n <= x->copy.max) {
				buf_append(&x->copy, p, n);
			} else {
				if (!x->pass)
					relay_keep_tail(x, x->copy.data, x->copy.len);
				x->pass = 1;
				relay_keep_tail(x, p, n);
			}
		}
		return relay_drain_check(x);
	}
	if (!x->oc->sse)
		return relay_on_plain(x, p, n);
	sse_feed(&x->sse, p, n);
	if (buf_append(&x->hold, p, n))
		return -1;
	if (x->hold.len > SSE_MAX_EVENT + 65536) {
		/* An event too large to hold: pass its bytes through rather
		 * than grow without bound (its usage is read from its tail). */
		if (relay_put(x, x->hold.data, x->hold.len) ||
		    x->d->flush(x->d->ctx))
			return relay_gone(x);
		x->sent += x->hold.len;
		x->partial = 1;
		x->ndrop = 0;
		buf_reset(&x->hold);
		if (x->sse.event_end < x->sent)
			x->sse.event_end = x->sent;
		return 0;
	}
	return relay_push_events(x);
}

/* The caller's tick, and the drain's time bound while the upstream is
 * silent. */
static const char *relay_tick(void *ctx)
{
	struct relay_run *x = ctx;
	const char *why = x->rq->tick ? x->rq->tick(x->rq->tick_ctx) : NULL;

	if (!why && x->dest_gone && relay_drain_check(x))
		why = "client gone: drain bound reached";
	return why;
}

/* Ends a started event stream cleanly after an upstream failure. Not when
 * part of an oversize event is already out: an error event would be glued
 * to it, so the stream just ends (a client's parser drops the unfinished
 * event) and the log row carries the reason. */
static void relay_sse_error(struct relay_run *x, const char *why)
{
	struct json_object *o, *e;
	struct buf b;

	if (x->dest_gone || x->partial) {
		log_warn("stream ended inside an event; no error event sent");
		return;
	}
	o = json_object_new_object();
	e = json_object_new_object();
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

/* Chat/text completions take stream_options; other OpenAI routes (the
 * Responses API, embeddings) report usage without it or refuse it. */
static int relay_wants_usage(const struct cfg *c, const struct up_req *rq)
{
	const char *u = rq->url;
	size_t n;

	if (!c->stream_usage || rq->fmt != FMT_OPENAI || !rq->stream || rq->get)
		return 0;
	if (!u)
		return 1;
	n = strlen(u);
	return n >= 12 && strcmp(u + n - 12, "/completions") == 0;
}

/* The transfer ended: what is still held goes out, and why it ended. */
static void relay_settle(struct relay_run *x, enum relay_err rc)
{
	const struct relay_dest *d = x->d;
	struct relay_outcome *oc = x->oc;

	if (rc == RE_OK && !x->dest_gone) {
		if (oc->sse && x->hold.len) {
			/* The upstream ended without a final blank line:
			 * deliver the rest as it came, and read its usage. */
			if (d->write(d->ctx, x->hold.data, x->hold.len) == 0)
				d->flush(d->ctx);
			sse_feed(&x->sse, "\n\n", 2);
		}
		if (!oc->sse && !x->pass &&
		    (relay_dest_start(x) || relay_put(x, x->copy.data, x->copy.len)))
			relay_gone(x);
		if (!oc->sse && !x->dest_gone)
			d->flush(d->ctx);
	}
	if (x->dest_gone) {
		oc->err = RE_ECLIENT;
		snprintf(oc->error, sizeof(oc->error), "%s", x->drain_cut ?
			 "client disconnected (upstream read stopped at the drain bound)" :
			 "client disconnected");
		log_info("client went away; upstream read on for %llu bytes%s",
			 x->drained, x->drain_cut ? ", then stopped" : "");
	} else if (rc == RE_EUPSTREAM || rc == RE_ECLIENT) {
		snprintf(oc->error, sizeof(oc->error), "%s", x->ur->error[0] ?
			 x->ur->error : "upstream transfer failed");
		if (!oc->started)
			oc->status = 502;
		else if (oc->sse)
			relay_sse_error(x, oc->error);
		log_warn("upstream failed (%s) after %llu bytes", oc->error,
			 x->ur->bytes);
	} else if (rc == RE_EBUSY) {
		/* refused for a failover (up_req.refuse_busy): nothing went out */
		snprintf(oc->error, sizeof(oc->error), "%s", x->ur->error);
		oc->status = (int)x->ur->status;
	} else if (rc != RE_OK) {
		snprintf(oc->error, sizeof(oc->error), "%s", x->ur->error);
		oc->status = rc == RE_EINVAL ? 400 : 500;
	}
}

/* A json-c value parsed from exactly n bytes, or NULL. Caller owns. */
static struct json_object *relay_json_span(const char *s, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)n);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Asks an OpenAI stream for its usage (sopt.h). A body whose usage
 * cannot be asked for is not sent: a stream the relay cannot meter would
 * be free (issue 25 point 3). RE_OK, or RE_EINVAL with ur->error. */
static enum relay_err relay_ask_usage(struct relay_run *x, struct up_req *fwd,
				      struct buf *spliced, struct up_result *ur)
{
	if (!relay_wants_usage(x->cfg, x->rq))
		return RE_OK;
	switch (sopt_splice(x->rq->body, x->rq->body_len, spliced)) {
	case SOPT_ADDED:
		fwd->body = spliced->data;
		fwd->body_len = spliced->len;
		x->filter_usage = 1;
		return RE_OK;
	case SOPT_ASKED:
		return RE_OK;
	default:
		ur->err = RE_EINVAL;
		snprintf(ur->error, sizeof(ur->error),
			 "request body: stream usage cannot be asked for");
		return RE_EINVAL;
	}
}

/* A member never gets tokens for free by leaving early (issue 25 point
 * 8): when the client went away before the usage at the end was read, or
 * a body too large to hold had none in its tail, the row is metered with
 * the relay's estimate (prompt from the request, completion from the text
 * received) and flagged usage.found = 2 (usage_known = 2). An answer that
 * came whole without usage stays 0 (usage_known = 0): the upstream's
 * choice, not the member's. */
static void relay_estimate(struct relay_run *x)
{
	struct usage *u = &x->oc->usage;
	int sse = x->oc->sse, cut = x->dest_gone && !(sse && x->sse.done);
	long long in, out;

	/* nothing lost: whole, or the usage read (a non-stream usage is
	 * read only from a whole body or its very end) */
	if (!(cut || (x->pass && !u->found)) || (u->found && !sse) ||
	    x->oc->status < 200 || x->oc->status > 299)
		return;     /* an error answer is never charged by guess */
	out = sse ? x->sse.text_est : x->plain_est;
	in = tokest_count(x->rq->body, x->rq->body_len);
	if (u->found && u->output >= out && usage_prompt(u) > 0)
		return;     /* what was read counts at least as much */
	if (usage_prompt(u) == 0)
		u->input = in > 0 ? in : 0;
	if (out > u->output)
		u->output = out;
	u->found = 2;
	log_warn("usage not read (%s): metered an estimate of %lld prompt + %lld completion tokens",
		 x->dest_gone ? "client went away" : "answer too large", usage_prompt(u), u->output);
}

/* The answer's Responses API id (relay_outcome.resp_id), for
 * POST .../responses only. A JSON answer's top-level "id" (decoded by
 * json-c from its span); a stream's from its events (sse.c). */
static void relay_resp_id(struct relay_run *x)
{
	const char *u = x->rq->url;
	struct json_object *o;
	size_t vs, ve, n = u ? strlen(u) : 0;

	if (n < 10 || strcmp(u + n - 10, "/responses") != 0)
		return;
	if (x->oc->sse) {
		memcpy(x->oc->resp_id, x->sse.resp_id, sizeof(x->oc->resp_id));
		return;
	}
	if (x->pass || !x->copy.len ||
	    sopt_top_member(x->copy.data, x->copy.len, "id", &vs, &ve) != 1 ||
	    x->copy.data[vs] != '"' || ve - vs > 2 * sizeof(x->oc->resp_id))
		return;
	o = relay_json_span(x->copy.data + vs, ve - vs);
	if (json_object_is_type(o, json_type_string) &&
	    (size_t)json_object_get_string_len(o) < sizeof(x->oc->resp_id))
		memcpy(x->oc->resp_id, json_object_get_string(o),
		       (size_t)json_object_get_string_len(o) + 1);
	json_object_put(o);
}

void relay_exchange(struct up *u, const struct up_req *rq,
		    const struct relay_dest *d, struct relay_outcome *oc)
{
	struct up_sink sink = { relay_on_start, relay_on_data, NULL };
	struct up_req fwd = *rq;
	struct up_result ur;
	struct relay_run x;
	struct buf spliced;
	double t0 = relay_now_ms();
	enum relay_err rc;

	memset(oc, 0, sizeof(*oc));
	memset(&x, 0, sizeof(x));
	x.d = d;
	x.rq = rq;
	x.cfg = up_cfg(u);
	x.oc = oc;
	sse_init(&x.sse);
	x.sse.on_event = relay_on_event;
	x.sse.on_event_ctx = &x;
	/* hold has no cap of its own: the parser skips oversize events, and
	 * relay_on_data passes through anything longer than one event. */
	buf_init(&x.hold, (size_t)-2);
	buf_init(&x.copy, RELAY_USAGE_COPY_MAX);
	buf_init(&x.tail, 2 * SSE_TAIL);
	buf_init(&spliced, rq->body_len + 64);
	memset(&ur, 0, sizeof(ur));
	fwd.tick = relay_tick;
	fwd.tick_ctx = &x;
	sink.ctx = &x;
	x.ur = &ur;
	rc = relay_ask_usage(&x, &fwd, &spliced, &ur);
	if (rc == RE_OK)
		rc = up_forward(u, &fwd, &sink, &ur);
	oc->err = rc;
	oc->ttfb_ms = ur.ttfb_ms;
	oc->bytes = ur.bytes;
	oc->retry_after = ur.retry_after;
	relay_settle(&x, rc);
	if (oc->sse)
		oc->usage = x.sse.usage;
	else if (!x.pass && x.copy.len)
		usage_from_json(x.copy.data, x.copy.len, &oc->usage);
	else if (x.pass)
		usage_from_tail(x.tail.data, x.tail.len, &oc->usage);
	relay_estimate(&x);
	relay_resp_id(&x);
	if (oc->sse && rc == RE_OK && x.sse.error_event && !oc->error[0])
		snprintf(oc->error, sizeof(oc->error), "upstream sent an error event");
	oc->latency_ms = (long)(relay_now_ms() - t0);
	sse_free(&x.sse);
	buf_free(&x.hold);
	buf_free(&x.copy);
	buf_free(&x.tail);
	buf_free(&spliced);
}
