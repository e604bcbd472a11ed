/* h_v1.c - the SDK routes (issue 11): /v1/... and /api/call.php/v1/...
 * through the one table of route.c. Reads each route's request and says
 * in OpenAI's or Anthropic's error shape how each outcome of the one door
 * pipeline (door.h) is answered. Bodies are forwarded byte for byte; the
 * parsed copy is only read (model, stream). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "app.h"
#include "doors.h"
#include "auth.h"
#include "backend.h"
#include "bmatch.h"
#include "door.h"
#include "hdrpass.h"
#include "fmt.h"
#include "log.h"
#include "jkeys.h"
#include "models.h"
#include "relay.h"
#include "resp.h"
#include "route.h"
#include "tokest.h"
#include "v1err.h"
#include "xroute.h"

/* One request's context, owned by v1_handle's stack frame. */
struct v1 {
	struct app *a;
	struct web_req *r;
	const struct route *rt;
	enum fmt_kind f;
	struct buf body;
	struct json_object *req;   /* parsed body (owned) */
	const char *model;
	int stream;
	struct xroute xr;          /* the translated exchange, if any */
	char url[2300];            /* the default backend's upstream URL */
	char own[400];             /* the caller's allowance headers */
	char why[300];             /* a refusal of the door's own (d->why) */
	struct proxy_tok *pt;      /* /proxy/{token}/...: what it opened to
				      (errors in the seed's shape), or NULL */
	struct buf fbody;          /* the body with the token's forced model */
};

/* An error in the route's format, or for a proxy URL in the seed's. */
static void v1_fail(struct v1 *v, int status, const char *type, const char *msg,
		    const char *code, const char *extra)
{
	if (v->pt)
		proxy_err(v->r, status, proxy_code(status, code), msg,
			  v->pt->backend[0] ? v->pt->backend : "relay",
			  v->rt ? v->rt->name : NULL, extra);
	else
		v1err_send(v->r, v->f, status, type, msg, code, extra);
}

/* Parses the body strictly (UTF-8 checked, depth-limited); on failure
 * answers 400 and returns -1. v->req is owned by v. */
static int v1_parse(struct v1 *v)
{
	struct json_tokener *tok = json_tokener_new_ex(FMT_MAX_DEPTH);
	struct json_object *m;
	enum json_tokener_error je;
	size_t end;
	const char *why = NULL;

	if (!tok || v->body.len > INT_MAX)
		why = "request body is not valid JSON";
	else {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		v->req = json_tokener_parse_ex(tok, v->body.data, (int)v->body.len);
		je = json_tokener_get_error(tok);
		end = json_tokener_get_parse_end(tok);
		if (je != json_tokener_success)
			why = je == json_tokener_error_depth ? "request body nests too deeply" :
				"request body is not valid JSON (or not UTF-8)";
		for (; !why && end < v->body.len; end++)
			if (!strchr(" \t\r\n", v->body.data[end]) || !v->body.data[end])
				why = "request body is not valid JSON";
		if (!why && !json_object_is_type(v->req, json_type_object))
			why = "request body must be a JSON object";
	}
	if (tok)
		json_tokener_free(tok);
	/* issue 25 point 3: a deciding key given twice (jkeys.h) */
	if (!why && jkeys_dup(v->body.data, v->body.len))
		why = "request body repeats a key the relay decides on (model, stream, stream_options, ...)";
	if (!why) {
		if (!json_object_object_get_ex(v->req, "model", &m) ||
		    !json_object_is_type(m, json_type_string) ||
		    json_object_get_string_len(m) == 0)
			why = "model: a non-empty string is required";
		else
			v->model = json_object_get_string(m);
	}
	if (why) {
		v1_fail(v, 400, NULL, why, NULL, NULL);
		return -1;
	}
	v->stream = fmt_is_stream(v->req);
	return 0;
}

/* 1 when an optional header value is clean (no control bytes). */
static int v1_header_ok(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return 0;
	return 1;
}

/* Reads, checks and parses the body; answers and returns -1 on failure. */
static int v1_read(struct v1 *v)
{
	const char *why;
	int code = app_read_body(v->a, v->r, &v->body, &why);

	if (code == 413) {
		v1_fail(v, 413, NULL, "request body too large", "request_too_large", NULL);
		return -1;
	}
	if (code) {
		v1_fail(v, code, NULL, "request body is empty or incomplete", NULL, NULL);
		return -1;
	}
	if (!v1_header_ok(web_header(v->r, "Anthropic-Version")) ||
	    !v1_header_ok(web_header(v->r, "Anthropic-Beta"))) {
		v1_fail(v, 400, NULL, "a request header has an invalid value", NULL, NULL);
		return -1;
	}
	return v1_parse(v);
}

/* Writes the next local midnight as "YYYY-MM-DDTHH:MM:SS+hh:mm". */
static void v1_reset_time(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	tm.tm_mday += 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	localtime_r(&t, &tm);
	if (!strftime(out, n, "%Y-%m-%dT%H:%M:%S%z", &tm))
		snprintf(out, n, "tomorrow");
}

/* The caller's own allowance as header lines into out. */
static void v1_allowance(const struct admit *ad, char *out, size_t n)
{
	char reset[40], lim[160] = "", tok[120] = "";
	long long left;

	v1_reset_time(reset, sizeof(reset));
	if (ad->u.daily_requests > 0) {
		left = ad->u.daily_requests - ad->requests_used;
		snprintf(lim, sizeof(lim), "x-ratelimit-limit-requests: %lld\r\n"
			 "x-ratelimit-remaining-requests: %lld\r\n",
			 ad->u.daily_requests, left < 0 ? 0 : left);
	}
	if (ad->u.daily_tokens > 0) {
		left = ad->u.daily_tokens - ad->tokens_used;
		snprintf(tok, sizeof(tok), "x-ratelimit-remaining-tokens: %lld\r\n",
			 left < 0 ? 0 : left);
	}
	snprintf(out, n, "%s%sx-ratelimit-reset-requests: %s\r\n", lim, tok, reset);
}

/* The answer to an admission that reserved nothing: a refused key, the
 * user's cap, a daily limit. */
static int v1_refuse(struct v1 *v, const struct admit *ad)
{
	char msg[300], hdr[200], reset[40];

	if (ad->auth != AUTH_OK) {
		v1_fail(v, 401, NULL,
			   ad->auth == AUTH_MISSING ? "missing API key (x-api-key or Authorization: Bearer)" :
			   ad->auth == AUTH_EXPIRED ? "API key expired" :
			   ad->auth == AUTH_DISABLED ? "user disabled" : "invalid API key",
			   "invalid_api_key", NULL);
		return 401;
	}
	if (ad->limit == LIMIT_CONCURRENT) {
		/* the user's own cap on requests in flight: retryable soon */
		v1_fail(v, 429, "rate_limit_error",
			   "too many concurrent requests for this user; retry shortly",
			   "concurrency_limit", "retry-after: 5\r\n");
		return 429;
	}
	v1_reset_time(reset, sizeof(reset));
	if (ad->limit == LIMIT_REQUESTS)
		snprintf(msg, sizeof(msg), "daily request limit reached (%lld/%lld); resets at %s",
			 ad->requests_used, ad->u.daily_requests, reset);
	else
		snprintf(msg, sizeof(msg), "daily token limit reached (%lld/%lld); resets at %s",
			 ad->tokens_used, ad->u.daily_tokens, reset);
	/* x-should-retry: false stops every SDK and Claude Code retry; the
	 * reset time is said, never as a Retry-After hours away */
	snprintf(hdr, sizeof(hdr), "x-should-retry: false\r\nx-ratelimit-reset-requests: %s\r\n", reset);
	v1_fail(v, 429, "rate_limit_error", msg, "daily_limit_exceeded", hdr);
	return 429;
}

/* The answers to a busy upstream's outcomes: retryable, soon (never a
 * Retry-After past 60 s, CLIENTS.md). */
static int v1_busy(struct v1 *v, enum door_outcome o)
{
	int busy = v1err_busy_status(v->f);

	switch (o) {
	case DOOR_QUEUE_FULL:
		v1_fail(v, busy, NULL,
			   "upstream busy and the wait queue is full; retry shortly", NULL,
			   "Retry-After: 10\r\n");
		return busy;
	case DOOR_WAIT_TIMEOUT:
		v1_fail(v, busy, NULL,
			   "upstream busy: no slot freed in time; retry shortly", NULL,
			   "Retry-After: 5\r\n");
		return busy;
	case DOOR_USER_QUEUE_FULL:
		v1_fail(v, 429, "rate_limit_error",
			   "too many of your requests are waiting or running; retry shortly", NULL,
			   "Retry-After: 10\r\n");
		return 429;
	case DOOR_GONE:
		log_info("client went away while waiting");
		return 499;
	case DOOR_CANCELLED:
		v1_fail(v, 503, "api_error", "request cancelled by an operator", NULL, NULL);
		return 503;
	case DOOR_WAIT_TOKENS:
		v1_fail(v, 429, "rate_limit_error", "daily token limit reached",
			   "token_limit", NULL);
		return 429;
	default:
		v1_fail(v, 500, "api_error", "database error, retry later", NULL, NULL);
		return 500;
	}
}

/* door_ops.answer of the SDK routes: each API's own error shape. */
static int v1_answer(struct door_req *d, enum door_outcome o)
{
	struct v1 *v = d->ctx;
	char msg[400];
	int st;

	switch (o) {
	case DOOR_AUTH:
	case DOOR_CONCURRENT:
	case DOOR_DAILY_REQUESTS:
	case DOOR_DAILY_TOKENS:
		return v1_refuse(v, &d->ad);
	case DOOR_MODEL_NOT_ALLOWED:
		v1_fail(v, 403, NULL, "this API key may not use that model",
			   "model_not_allowed", NULL);
		return 403;
	case DOOR_INVALID:
	case DOOR_NOT_FOUND:
	case DOOR_UNTRANSLATABLE:
	case DOOR_TRANSLATE_FAILED:
		/* 400 when the request itself cannot be (it says why), 404 for
		 * what is not this member's, 500 when the translator failed */
		st = o == DOOR_TRANSLATE_FAILED ? 500 : o == DOOR_NOT_FOUND ? 404 : 400;
		v1_fail(v, st, st == 500 ? "api_error" : "invalid_request_error",
			   d->why, o == DOOR_UNTRANSLATABLE ? "untranslatable_request" : d->code, NULL);
		return st;
	case DOOR_NOT_SERVED:
		snprintf(msg, sizeof(msg), "the model `%.300s` is not served here", v->model);
		v1_fail(v, 404, v->f == FMT_ANTHROPIC ? "not_found_error" :
			   "invalid_request_error", msg, "model_not_found", NULL);
		return 404;
	case DOOR_NO_ENDPOINT:
		/* issue 28: a route no backend speaks is the client's wrong
		 * turn here (the seed's UNSUPPORTED_ENDPOINT), not a 500 */
		snprintf(msg, sizeof(msg), "UNSUPPORTED_ENDPOINT: the endpoint group %s is not"
			 " supported here: no backend serves the %s format (%s, or relayctl"
			 " backend add)", v->rt->name,
			 d->rq.fmt == FMT_ANTHROPIC ? "Anthropic" : "OpenAI",
			 d->rq.fmt == FMT_ANTHROPIC ? "anthropic_url" : "openai_url");
		v1_fail(v, 400, "invalid_request_error", msg,
			   "UNSUPPORTED_ENDPOINT", NULL);
		return 400;
	case DOOR_EDB:
		v1_fail(v, 500, "api_error", "database error, retry later", NULL, NULL);
		return 500;
	default:
		return v1_busy(v, o);
	}
}

/* /v1/responses (issue 26): translated to Chat Completions for the tries
 * on a chat-only backend, or an 'auto' one that turns out to be (exchange.c
 * decides per backend and try), so the request is translated here when
 * such a backend serves the model. A request that cannot be translated
 * (built-in tools, previous_response_id) is refused only when no backend
 * would take it as it is. */
static enum door_outcome v1_prepare_rs(struct door_req *d, struct v1 *v)
{
	const struct backends *bs = &v->a->bk;

	if (!backend_rs_any(bs, v->model, BACKEND_RS_NO) &&
	    !backend_rs_any(bs, v->model, BACKEND_RS_AUTO))
		return DOOR_OK;
	switch (xroute_setup_rs(&v->xr, &v->a->cfg, v->req)) {
	case XR_OK:
		d->x.xl = &v->xr;
		return DOOR_OK;
	case XR_REFUSED:
		if (v->xr.refusal == 400 && (backend_rs_any(bs, v->model, BACKEND_RS_YES) ||
					     backend_rs_any(bs, v->model, BACKEND_RS_AUTO)))
			return DOOR_OK;
		d->why = v->xr.why;
		return v->xr.refusal == 400 ? DOOR_UNTRANSLATABLE : DOOR_TRANSLATE_FAILED;
	default:
		return DOOR_OK;
	}
}

/* 1 (d->why, d->code set) when every backend serving the model has this
 * route's endpoint group unsupported by its preset (preset.h). */
static int v1_group_refused(struct door_req *d, struct v1 *v)
{
	char names[200];
	const struct backend *b = NULL;
	size_t i;

	if (v->pt && v->pt->backend[0]) {
		/* a URL bound to one backend: the model must be one it serves */
		for (i = 0; i < v->a->bk.n; i++)
			if (strcmp(v->a->bk.v[i].name, v->pt->backend) == 0)
				b = &v->a->bk.v[i];
		if (!b || !backend_serves(b, d->in.fmt, v->model)) {
			snprintf(v->why, sizeof(v->why), "the backend of this proxy URL does not"
				 " serve %.60s on the %s route", v->model, v->rt->name);
			d->why = v->why;
			d->code = "UNSUPPORTED_ENDPOINT";
			return 1;
		}
	}
	if (!backend_group_unsupported(&v->a->bk, d->in.fmt, v->model, v->rt->name,
				       names, sizeof(names)))
		return 0;
	/* the code leads the message too: Anthropic's error shape has no
	 * code member */
	snprintf(v->why, sizeof(v->why), "UNSUPPORTED_ENDPOINT: the endpoint group %s is not"
		 " supported by the backends of model %.60s (%.120s)", v->rt->name, v->model,
		 names);
	d->why = v->why;
	d->code = "UNSUPPORTED_ENDPOINT";
	return 1;
}

/* door_ops.prepare: the upstream URL, the translation when the admission
 * picked the other format's backends, and the caller's allowance headers. */
static enum door_outcome v1_prepare(struct door_req *d)
{
	struct v1 *v = d->ctx;

	v1_allowance(&d->ad, v->own, sizeof(v->own));
	d->x.own_headers = v->own;
	/* issue 25 point 13: Responses ids belong to the member who made them */
	if (v->rt->id == ROUTE_RESPONSES) {
		int st = exchange_responses_check(&d->x, v->req, v->why, sizeof(v->why), &d->code);

		if (st) {
			d->why = v->why;
			return st == 404 ? DOOR_NOT_FOUND : DOOR_INVALID;
		}
	}
	if (v1_group_refused(d, v))
		return DOOR_INVALID;
	if (route_upstream_url(&v->a->cfg, d->rq.fmt, v->rt->up_path, v->url, sizeof(v->url)))
		v->url[0] = '\0';   /* backend 0 lacks this format: another serves it */
	if (v->rt->id == ROUTE_RESPONSES)
		return v1_prepare_rs(d, v);
	if (d->in.fmt == d->rq.fmt)
		return DOOR_OK;
	switch (xroute_setup(&v->xr, &v->a->cfg, v->rt, v->req)) {
	case XR_OK:
		d->x.xl = &v->xr;
		return DOOR_OK;
	case XR_REFUSED:
		d->why = v->xr.why;
		return v->xr.refusal == 400 ? DOOR_UNTRANSLATABLE : DOOR_TRANSLATE_FAILED;
	default:
		return DOOR_OK;
	}
}

static const struct door_ops v1_door = { v1_answer, NULL, v1_prepare };

/* The proxy URLs' door (issue 28): admitted as the token's key; a
 * refused key is the seed's INVALID_TOKEN (the URL is the credential),
 * the rest as the SDK routes say it, in the seed's shape (v1_fail). */
static int proxy_answer(struct door_req *d, enum door_outcome o)
{
	struct v1 *v = d->ctx;

	if (o == DOOR_AUTH) {
		proxy_err(v->r, 401, "INVALID_TOKEN", "the proxy URL's key is revoked, expired"
			  " or disabled", v->pt->backend[0] ? v->pt->backend : "relay",
			  v->rt->name, NULL);
		return 401;
	}
	return v1_answer(d, o);
}

static const struct door_ops proxy_door = { proxy_answer, NULL, v1_prepare };

/* POST routes that go upstream on a slot and are metered: the request
 * read and parsed here, the rest is the door pipeline's. Busy: waits
 * inline (never a 202 here). */
static void v1_proxy(struct v1 *v)
{
	struct door_req d;

	if (v1_read(v))
		return;
	if (v->pt && v->pt->model_force[0]) {
		/* model.mode force: the token's model, every other byte kept */
		buf_init(&v->fbody, v->body.len + sizeof(v->pt->model_force) + 8);
		if (bmatch_splice_model(v->body.data, v->body.len, v->pt->model_force,
					&v->fbody) == 0) {
			struct buf t = v->body;   /* both are freed by v1_handle */

			v->body = v->fbody;
			v->fbody = t;
			v->model = v->pt->model_force;
		}
	}
	door_init(&d, v->a, v->r, v->pt ? &proxy_door : &v1_door, v);
	d.in.key = v->pt ? v->pt->key : NULL;
	/* the format whose backends serve this request: the client's, unless
	 * only a translating backend of the other format serves the model */
	backends_sync(&v->a->bk, v->a->db, 0);
	d.in.fmt = xroute_pick(&v->a->bk, &v->a->cfg, v->rt, v->model);
	d.in.model = v->model;
	d.in.route = v->rt->name;
	d.in.stream = v->stream;
	d.rq.fmt = v->rt->fmt;
	d.rq.body = v->body.data;
	d.rq.body_len = v->body.len;
	d.rq.stream = v->stream;
	d.rq.anthropic_version = web_header(v->r, "Anthropic-Version");
	d.rq.anthropic_beta = web_header(v->r, "Anthropic-Beta");
	d.rq.url = v->url;
	d.x.route = v->rt->name;
	d.x.up_path = v->rt->up_path;
	d.x.v1 = 1;
	d.x.errfmt = v->f;
	d.wait_s = v->a->cfg.queue_wait_max;
	door_run(&d);
}

/* count_tokens forwarding: an upstream 404/405 is kept from the client
 * (the estimate answers instead). ctx = struct ct_dest. */
struct ct_dest {
	struct web_req *r;
	int missing;
};

static int ct_start(void *ctx, int status, const char *ct, int sse, const char *uph)
{
	struct ct_dest *c = ctx;
	char extra[HDRPASS_MAX];

	(void)sse;
	if (status == 404 || status == 405) {
		c->missing = 1;
		return 0;
	}
	snprintf(extra, sizeof(extra), "%s", uph ? uph : "");
	return resp_start(c->r, status, ct, extra);
}

static int ct_start_plain(void *ctx, int status, const char *ct, int sse)
{
	return ct_start(ctx, status, ct, sse, NULL);
}

static int ct_write(void *ctx, const char *p, size_t n)
{
	struct ct_dest *c = ctx;

	return c->missing ? 0 : web_write(c->r, p, n);
}

static int ct_flush(void *ctx)
{
	struct ct_dest *c = ctx;

	return c->missing ? 0 : web_flush(c->r);
}

/* Forwards a count_tokens upstream: 1 when the client has its answer
 * (the upstream's, or a 502), 0 when the estimate must answer (the
 * upstream lacks the route, or none is configured). */
static int v1_ct_forward(struct v1 *v)
{
	struct ct_dest c = { v->r, 0 };
	struct relay_dest d = { ct_start_plain, ct_write, ct_flush, &c, ct_start };
	struct relay_outcome oc;
	struct up_req rq;
	char msg[400];

	if (route_upstream_url(&v->a->cfg, FMT_ANTHROPIC, v->rt->up_path, v->url, sizeof(v->url)))
		return 0;
	memset(&rq, 0, sizeof(rq));
	rq.fmt = FMT_ANTHROPIC;
	rq.body = v->body.data;
	rq.body_len = v->body.len;
	rq.anthropic_version = web_header(v->r, "Anthropic-Version");
	rq.anthropic_beta = web_header(v->r, "Anthropic-Beta");
	rq.url = v->url;
	relay_exchange(v->a->up, &rq, &d, &oc);
	if (oc.started && !c.missing)
		return 1;
	if (!oc.started && oc.err != RE_OK) {
		snprintf(msg, sizeof(msg), "upstream request failed: %s", oc.error);
		v1_fail(v, 502, "api_error", msg, NULL, NULL);
		return 1;
	}
	return 0;
}

/* POST /v1/messages/count_tokens: free (never counted or logged, no slot,
 * never queued) but held to the key, the daily limits and the allow-list
 * like every request (door_peek). Answered by the local estimator; with
 * count_tokens_forward = N up to N per user and second go upstream
 * (door_budget), so no member spends the shared account's rate limit. */
static void v1_count_tokens(struct v1 *v)
{
	struct door_req d;
	struct json_object *o;
	int per_s = v->a->cfg.count_tokens_forward;
	long long est;

	if (v1_read(v))
		return;
	if (v->pt && v->pt->model_force[0]) {
		/* model.mode force: the token's model, every other byte kept */
		buf_init(&v->fbody, v->body.len + sizeof(v->pt->model_force) + 8);
		if (bmatch_splice_model(v->body.data, v->body.len, v->pt->model_force,
					&v->fbody) == 0) {
			struct buf t = v->body;   /* both are freed by v1_handle */

			v->body = v->fbody;
			v->fbody = t;
			v->model = v->pt->model_force;
		}
	}
	door_init(&d, v->a, v->r, v->pt ? &proxy_door : &v1_door, v);
	d.in.key = v->pt ? v->pt->key : NULL;
	d.in.model = v->model;
	if (door_peek(&d, 1) != DOOR_OK)
		return;
	if (per_s > 0 && door_budget(v->a, d.ad.u.user_id, per_s) && v1_ct_forward(v))
		return;
	est = tokest_count(v->body.data, v->body.len);
	o = json_object_new_object();
	json_object_object_add(o, "input_tokens", json_object_new_int64(est < 0 ? 0 : est));
	if (resp_start(v->r, 200, "application/json", "X-Relay-Estimate: 1\r\n") == 0) {
		const char *s = json_object_to_json_string_ext(o, RESP_JSON_FLAGS);
		web_write(v->r, s, strlen(s));
	}
	json_object_put(o);
	log_info("count_tokens: local estimate %lld for user %s", est, d.ad.u.name);
}

/* GET /v1/models in the client's list shape, filtered by its allow-list;
 * only the key is checked (the list is free and local). */
static void v1_models(struct v1 *v)
{
	struct door_req d;
	struct json_object *ids, *o;
	int anthropic = web_header(v->r, "Anthropic-Version") != NULL;

	if (anthropic)
		v->f = FMT_ANTHROPIC;
	door_init(&d, v->a, v->r, v->pt ? &proxy_door : &v1_door, v);
	d.in.key = v->pt ? v->pt->key : NULL;
	if (door_peek(&d, 0) != DOOR_OK)
		return;
	ids = models_list(v->a);
	models_add_allowed(v->a, ids, d.ad.u.models, d.ad.u.models_set);
	o = models_render(ids, d.ad.u.models, d.ad.u.models_set, anthropic);
	resp_json(v->r, 200, o);
	json_object_put(o);
	json_object_put(ids);
}

/* GET /v1/models/{id}: the one model in the client's shape when the key
 * may use it and a backend serves it (listed, or taken by a backend's
 * names or globs), else 404 model_not_found. */
static void v1_model_one(struct v1 *v, const char *id, size_t n)
{
	struct door_req d;
	struct json_object *ids, *o, *m;
	int anthropic = web_header(v->r, "Anthropic-Version") != NULL;
	char name[256], msg[400];
	size_t i, len;
	int known = 0;

	if (anthropic)
		v->f = FMT_ANTHROPIC;
	door_init(&d, v->a, v->r, &v1_door, v);
	if (door_peek(&d, 0) != DOOR_OK)
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), id);
	ids = models_list(v->a);
	len = json_object_array_length(ids);
	for (i = 0; i < len && !known; i++)
		known = strcmp(json_object_get_string(json_object_array_get_idx(ids, i)), name) == 0;
	json_object_put(ids);
	if (n >= sizeof(name) || !door_model_ok(&d.ad.u, name) ||
	    (!known && !models_served(v->a, name))) {
		snprintf(msg, sizeof(msg), "the model `%.300s` does not exist or you do not have "
			 "access to it", name);
		v1err_send(v->r, v->f, 404, v->f == FMT_ANTHROPIC ? "not_found_error" :
			   "invalid_request_error", msg, "model_not_found", NULL);
		return;
	}
	ids = json_object_new_array();
	json_object_array_add(ids, json_object_new_string(name));
	o = models_render(ids, NULL, 0, anthropic);
	m = json_object_array_get_idx(json_object_object_get(o, "data"), 0);
	resp_json(v->r, 200, m);
	json_object_put(o);
	json_object_put(ids);
}

/* The answer for a path/method the table does not have. */
static void v1_unmatched(struct v1 *v, enum route_rc rc, const char *path)
{
	char msg[ROUTE_PATH_MAX + 64];

	if (rc == ROUTE_BAD_METHOD) {
		snprintf(msg, sizeof(msg), "method %s not allowed on %s", v->r->method,
			 v->rt->path);
		v1_fail(v, 405, "invalid_request_error", msg, NULL,
			   strcmp(v->rt->method, "GET") == 0 ? "Allow: GET\r\n" : "Allow: POST\r\n");
		return;
	}
	snprintf(msg, sizeof(msg), "no route %.*s", ROUTE_PATH_MAX, path);
	v1_fail(v, 404, "not_found_error", msg, NULL, NULL);
}

/* The seed's routes (issue 28): /api/catalog and /api/generate-url are
 * answered here (1); /proxy/{token}/rest opens the token into *pt and
 * matches rest in the route table (0, *n and *rc for rest), or answers
 * MISSING_TOKEN / INVALID_TOKEN (1). 0 for any other path. */
static int v1_seed_route(struct v1 *v, char *path, size_t *n, struct proxy_tok *pt,
			 enum route_rc *rc)
{
	const char *tok, *end;
	size_t tn;
	int st;

	if (strcmp(path, "/api/catalog") == 0)
		return catalog_handle(v->r, v->a), 1;
	if (strcmp(path, "/api/generate-url") == 0)
		return genurl_handle(v->r, v->a), 1;
	if (strncmp(path, "/proxy", 6) || (path[6] && path[6] != '/'))
		return 0;
	v->pt = pt;
	memset(pt, 0, sizeof(*pt));
	tok = path[6] ? path + 7 : path + 6;
	end = strchr(tok, '/');
	tn = end ? (size_t)(end - tok) : strlen(tok);
	st = proxy_token_open(v->a, tok, tn, pt);
	if (st) {
		/* the token is never repeated back, nor logged */
		proxy_err(v->r, st == PROXY_TOK_MISSING ? 400 : st == PROXY_TOK_EDB ? 500 : 401,
			  st == PROXY_TOK_MISSING ? "MISSING_TOKEN" : st == PROXY_TOK_EDB ?
			  "INTERNAL_ERROR" : "INVALID_TOKEN", st == PROXY_TOK_MISSING ?
			  "the proxy URL has no token: /proxy/{token}/..." : st == PROXY_TOK_EDB ?
			  "database error, retry later" : "the proxy token is not valid (revoked,"
			  " or not one of this relay's)", "relay", NULL, NULL);
		return 1;
	}
	*n = end ? strlen(end) : 0;
	memmove(path, end ? end : "", *n + 1);
	*rc = route_match(v->r->method, path, *n, &v->rt);
	v->f = v->rt ? v->rt->fmt : pt->anthropic ? FMT_ANTHROPIC : FMT_OPENAI;
	return 0;
}

void v1_handle(struct web_req *r, void *ctx)
{
	struct v1 v;
	struct proxy_tok pt;
	char path[ROUTE_PATH_MAX + 2];
	size_t n;
	enum route_rc rc;

	memset(&v, 0, sizeof(v));
	v.a = ctx;
	v.r = r;
	buf_init(&v.body, 0);
	buf_init(&v.fbody, 0);
	xroute_init(&v.xr);
	n = route_rel_path(web_param(r, "REQUEST_URI"), web_param(r, "SCRIPT_NAME"),
			   web_param(r, "PATH_INFO"), path, sizeof(path));
	if (n == (size_t)-1) {
		snprintf(path, sizeof(path), "(too long)");
		n = 0;
		rc = ROUTE_NOT_FOUND;
	} else {
		rc = route_match(r->method, path, n, &v.rt);
	}
	v.f = v.rt ? v.rt->fmt :
		route_guess_fmt(path, n, web_header(r, "Anthropic-Version") != NULL);
	if (rc != ROUTE_FOUND && v1_seed_route(&v, path, &n, &pt, &rc))
		goto out;
	if (rc != ROUTE_FOUND) {
		v1_unmatched(&v, rc, path);
		goto out;
	}
	if (v.rt->id == ROUTE_HEAD) {
		resp_start(r, 200, "application/json", "Cache-Control: no-store\r\n");
		goto out;
	}
	if (!v.a->cfg_ok) {
		char msg[600];
		snprintf(msg, sizeof(msg), "configuration error: %s", v.a->cfg_err);
		v1_fail(&v, 500, "api_error", msg, NULL, NULL);
		goto out;
	}
	if (v.rt->id == ROUTE_MODELS)
		v1_models(&v);
	else if (v.rt->id == ROUTE_MODEL)
		v1_model_one(&v, path + 11, n - 11 - (path[n - 1] == '/'));
	else if (v.rt->id == ROUTE_COUNT_TOKENS)
		v1_count_tokens(&v);
	else
		v1_proxy(&v);
out:
	xroute_free(&v.xr);
	json_object_put(v.req);
	buf_free(&v.body);
	buf_free(&v.fbody);
	memset(&pt, 0, sizeof(pt));
}
