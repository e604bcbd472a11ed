/* xroute.c - the translated exchange of an SDK route (xroute.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "backend.h"
#include "cfg.h"
#include "log.h"
#include "route.h"
#include "v1err.h"
#include "xroute.h"

void xroute_init(struct xroute *t)
{
	memset(t, 0, sizeof *t);
	buf_init(&t->body, 0);
	buf_init(&t->held, RELAY_USAGE_COPY_MAX);
	buf_init(&t->out, (size_t)-2);
}

void xroute_free(struct xroute *t)
{
	buf_free(&t->body);
	buf_free(&t->held);
	buf_free(&t->out);
	if (t->on && !t->rs)
		xsse_free(&t->sse);
	if (t->rs_ready)
		xrsse_free(&t->rsse);
	t->rs_ready = 0;
	t->on = 0;
}

/* The route of the other format that takes the same conversation. */
static const struct route *xroute_peer(const struct route *rt)
{
	const struct route *peer = NULL;

	if (rt->id == ROUTE_MESSAGES)
		route_match("POST", "/v1/chat/completions", 20, &peer);
	else if (rt->id == ROUTE_CHAT)
		route_match("POST", "/v1/messages", 12, &peer);
	return peer;
}

enum fmt_kind xroute_pick(const struct backends *bs, const struct cfg *c,
			  const struct route *rt, const char *model)
{
	const struct route *peer = xroute_peer(rt);
	size_t i;

	if (!peer || !xlate_wanted(rt->fmt, peer->fmt) ||
	    backend_others(bs, rt->fmt, model, NULL, 0) > 0)
		return rt->fmt;
	for (i = 0; i <= bs->n; i++) {
		const struct backend *b = i < bs->n ? &bs->v[i] : &bs->dflt;
		if ((b->id == 0 ? c->translate : b->translate) &&
		    backend_serves(b, peer->fmt, model))
			return peer->fmt;
	}
	return rt->fmt;
}

enum xroute_rc xroute_setup(struct xroute *t, const struct cfg *c,
			    const struct route *rt, struct json_object *req)
{
	const struct route *peer = xroute_peer(rt);
	struct json_object *out = NULL;
	char why[300];
	enum relay_err rc;

	if (!peer)
		return XR_NONE;
	if (route_upstream_url(c, peer->fmt, peer->up_path, t->url, sizeof(t->url)))
		t->url[0] = '\0';
	t->up_path = peer->up_path;
	t->client = rt->fmt;
	t->upstream = peer->fmt;
	t->o.now = (long long)time(NULL);
	t->o.reasoning_effort = c->translate_reasoning;
	t->body.max = (size_t)c->max_body_bytes * 4 + 65536;
	rc = xlate_request(t->client, req, &t->o, &out, &t->info, &t->note,
			   why, sizeof why);
	if (rc == RE_OK)
		rc = xlate_dump(out, &t->body);
	json_object_put(out);
	if (rc)
		buf_free(&t->body);
	if (rc == RE_EINVAL) {
		t->refusal = 400;
		snprintf(t->why, sizeof t->why, "%s", why);
		log_info("translation refused (%s -> %s): %s",
			 fmt_name(t->client), fmt_name(t->upstream), why);
		return XR_REFUSED;
	}
	if (rc) {
		t->refusal = 500;
		snprintf(t->why, sizeof t->why, "request translation failed");
		return XR_REFUSED;
	}
	if (t->note.count)
		log_info("translating %s -> %s: %s", fmt_name(t->client),
			 fmt_name(t->upstream), t->note.text);
	t->on = 1;
	xsse_init(&t->sse, t->upstream, &t->o, &t->info);
	return XR_OK;
}

enum xroute_rc xroute_setup_rs(struct xroute *t, const struct cfg *c,
			       struct json_object *req)
{
	struct json_object *out = NULL;
	char why[300];
	enum relay_err rc;

	if (route_upstream_url(c, FMT_OPENAI, "/chat/completions", t->url, sizeof(t->url)))
		t->url[0] = '\0';
	t->up_path = "/chat/completions";
	t->client = t->upstream = FMT_OPENAI;
	t->o.now = (long long)time(NULL);
	t->o.reasoning_effort = c->translate_reasoning;
	t->body.max = (size_t)c->max_body_bytes * 4 + 65536;
	rc = xlrs_request(req, &t->o, &out, &t->info, &t->note, why, sizeof why);
	if (rc == RE_OK)
		rc = xlate_dump(out, &t->body);
	json_object_put(out);
	if (rc)
		buf_free(&t->body);
	if (rc == RE_EINVAL) {
		t->refusal = 400;
		snprintf(t->why, sizeof t->why, "%s", why);
		log_info("responses -> chat not possible: %s", why);
		return XR_REFUSED;
	}
	if (rc) {
		t->refusal = 500;
		snprintf(t->why, sizeof t->why, "request translation failed");
		return XR_REFUSED;
	}
	t->rs = 1;
	return XR_OK;
}

void xroute_rs_use(struct xroute *t, int on)
{
	/* the notes only when the translation is used (an 'auto' backend
	 * may take the client's bytes as they are) */
	if (t->rs && on && !t->on && t->note.count)
		log_info("translating responses -> chat: %s", t->note.text);
	t->on = t->rs && on;
}

/* ---- the wrapper (relay_dest) ---- */

static int xr_start_hdr(void *ctx, int status, const char *ct, int sse,
			const char *up_headers)
{
	struct xroute *t = ctx;

	t->status = status;
	snprintf(t->headers, sizeof t->headers, "%s",
		 up_headers ? up_headers : "");
	if (sse && status >= 200 && status < 300) {
		t->streaming = 1;
		if (t->inner->start_hdr)
			return t->inner->start_hdr(t->inner->ctx, status, ct, 1,
						   up_headers);
		return t->inner->start(t->inner->ctx, status, ct, 1);
	}
	/* held until xroute_end: the whole body is needed to translate it */
	return 0;
}

static int xr_start(void *ctx, int status, const char *ct, int sse)
{
	return xr_start_hdr(ctx, status, ct, sse, NULL);
}

static int xr_write(void *ctx, const char *p, size_t n)
{
	struct xroute *t = ctx;
	int rc = 0;

	if (!t->streaming) {
		if (buf_append(&t->held, p, n))
			t->overflow = 1;
		return 0;
	}
	/* the relay writes whole events only: each one comes out now */
	if ((t->rs ? xrsse_feed(&t->rsse, p, n, &t->out) :
	     xsse_feed(&t->sse, p, n, &t->out)) != RE_OK)
		rc = -1;
	if (!rc && t->out.len)
		rc = t->inner->write(t->inner->ctx, t->out.data, t->out.len);
	buf_reset(&t->out);
	if (rc)
		t->gone = 1;
	return rc;
}

static int xr_flush(void *ctx)
{
	struct xroute *t = ctx;

	if (!t->streaming)
		return 0;
	return t->inner->flush(t->inner->ctx);
}

const struct relay_dest *xroute_wrap(struct xroute *t, struct up_req *rq,
				     const struct relay_dest *inner)
{
	rq->fmt = t->upstream;
	rq->body = t->body.data;
	rq->body_len = t->body.len;
	t->inner = inner;
	if (t->rs) {
		/* each try starts afresh: a failed-over try left nothing */
		if (t->rs_ready)
			xrsse_free(&t->rsse);
		xrsse_init(&t->rsse, &t->o, &t->info);
		t->rs_ready = 1;
		t->status = t->streaming = t->overflow = t->gone = 0;
		buf_reset(&t->held);
	}
	t->outer.start = xr_start;
	t->outer.write = xr_write;
	t->outer.flush = xr_flush;
	t->outer.start_hdr = xr_start_hdr;
	t->outer.ctx = t;
	return &t->outer;
}

/* Sends a translated non-stream answer (or the error it turned into), as
 * an event stream when sse. */
static void xr_send(struct xroute *t, int status, const struct buf *b, int sse)
{
	const struct relay_dest *d = t->inner;
	const char *ct = sse ? "text/event-stream" : "application/json";
	int rc;

	rc = d->start_hdr ? d->start_hdr(d->ctx, status, ct, sse, t->headers) :
			    d->start(d->ctx, status, ct, sse);
	if (!rc && b->len)
		rc = d->write(d->ctx, b->data, b->len);
	if (!rc)
		d->flush(d->ctx);
}

/* A 2xx answer into the client's format; *sse = 1 when it went into an
 * event stream because the client asked for one and the upstream sent a
 * single JSON body instead. */
static enum relay_err xr_answer(struct xroute *t, struct buf *b, int *sse)
{
	struct json_object *in = xlate_parse(t->held.data, t->held.len);
	struct json_object *res = NULL;
	enum relay_err rc;

	*sse = 0;
	if (!in)
		return RE_EINVAL;
	rc = t->rs ? xlrs_response(in, &t->o, &t->info, &res, &t->note) :
		xlate_response(t->upstream, in, &t->o, &t->info, &res, &t->note);
	if (rc == RE_OK && t->info.stream) {
		*sse = 1;
		rc = t->rs ? xrsse_from_answer(res, b) :
			xsse_from_answer(t->client, res, t->info.include_usage, b);
	} else if (rc == RE_OK) {
		rc = xlate_dump(res, b);
	}
	json_object_put(res);
	json_object_put(in);
	return rc;
}

static void xr_end_plain(struct xroute *t)
{
	struct buf b;
	int status = t->status, notes = t->note.count, sse = 0;
	enum relay_err rc;

	buf_init(&b, RELAY_USAGE_COPY_MAX * 2);
	if (t->overflow) {
		rc = RE_ETOOBIG;
	} else if (status >= 200 && status < 300) {
		rc = xr_answer(t, &b, &sse);
	} else {
		rc = xlate_error_text(t->client, status, t->held.data,
				      t->held.len, &b);
	}
	if (rc) {
		/* an answer that cannot be translated is the upstream's
		 * failure, said in the client's words */
		log_warn("upstream answer (HTTP %d, %s%zu bytes) could not be "
			 "translated: %s", status, t->overflow ? "over " : "",
			 t->overflow ? t->held.max : t->held.len,
			 relay_strerror(rc));
		status = 502;
		sse = 0;
		buf_reset(&b);
		xlate_error_text(t->client, 502,
				 "upstream answer could not be translated",
				 39, &b);
	}
	xr_send(t, status, &b, sse);
	buf_free(&b);
	if (t->note.count > notes)
		log_info("answer translated %s -> %s: %s", fmt_name(t->upstream),
			 fmt_name(t->client), t->note.text);
}

void xroute_end(struct xroute *t, const struct relay_outcome *oc)
{
	if (!t->on || t->gone || oc->err == RE_ECLIENT || !t->status)
		return;
	if (!t->streaming) {
		if (oc->err == RE_OK)
			xr_end_plain(t);
		return;
	}
	/* a broken stream got the relay's error event (translated above) */
	if (oc->err != RE_OK)
		return;
	if ((t->rs ? xrsse_end(&t->rsse, &t->out) : xsse_end(&t->sse, &t->out)) == RE_OK &&
	    t->out.len &&
	    t->inner->write(t->inner->ctx, t->out.data, t->out.len) == 0)
		t->inner->flush(t->inner->ctx);
	buf_reset(&t->out);
	if (t->rs ? t->rsse.dropped : t->sse.dropped)
		log_info("stream translation skipped %lu upstream events",
			 t->rs ? t->rsse.dropped : t->sse.dropped);
}
