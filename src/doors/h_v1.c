/* h_v1.c - the SDK routes (issue 11): /v1/... and /api/call.php/v1/...
 * through the one table of route.c. Bodies are forwarded byte for byte;
 * the parsed copy is only read (model, stream). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "admit.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "dispatch.h"
#include "exchange.h"
#include "hdrpass.h"
#include "fmt.h"
#include "log.h"
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
	int ticked;                /* SSE headers sent while waiting */
};

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
	if (!why) {
		if (!json_object_object_get_ex(v->req, "model", &m) ||
		    !json_object_is_type(m, json_type_string) ||
		    json_object_get_string_len(m) == 0)
			why = "model: a non-empty string is required";
		else
			v->model = json_object_get_string(m);
	}
	if (why) {
		v1err_send(v->r, v->f, 400, NULL, why, NULL, NULL);
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
		v1err_send(v->r, v->f, 413, NULL, "request body too large", "request_too_large", NULL);
		return -1;
	}
	if (code) {
		v1err_send(v->r, v->f, code, NULL, "request body is empty or incomplete", NULL, NULL);
		return -1;
	}
	if (!v1_header_ok(web_header(v->r, "Anthropic-Version")) ||
	    !v1_header_ok(web_header(v->r, "Anthropic-Beta"))) {
		v1err_send(v->r, v->f, 400, NULL, "a request header has an invalid value", NULL, NULL);
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
/* A request xroute_setup could not translate: 400 when the request
 * itself cannot be (it says why), 500 when the translator failed. */
static void v1_untranslatable(struct exch *x, const struct xroute *t, struct slot *s)
{
	int st = t->refusal == 400 ? 400 : 500;

	v1err_send(x->r, x->errfmt, st, st == 400 ? "invalid_request_error" : "api_error",
		   t->why, st == 400 ? "untranslatable_request" : NULL, NULL);
	exchange_meter(x, st, st == 400 ? "request cannot be translated" :
		       "request translation failed", NULL, s);
}

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

/* Tick while waiting for a slot: a streaming client gets its SSE headers
 * and a comment line so that neither it nor a proxy times out. */
static int v1_tick(void *ctx, long long position)
{
	struct v1 *v = ctx;
	char line[64];
	int n;

	if (!v->stream)
		return v->r->client_gone;
	if (!v->ticked) {
		v->ticked = 1;
		if (resp_start(v->r, 200, "text/event-stream",
			       "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n") < 0)
			return 1;
	}
	n = snprintf(line, sizeof(line), ": queued, position %lld\n\n", position);
	if (n < 0 || (size_t)n >= sizeof(line))
		return 0;
	return web_write(v->r, line, (size_t)n) || web_flush(v->r);
}

/* Busy upstream: waits inline through the dispatcher (never a 202 here).
 * Returns 1 with *s held (forward now), 0 when answered and metered. */
static int v1_wait(struct v1 *v, struct exch *x, struct slot *s)
{
	/* the queue row's format picks the backends it waits for: the
	 * upstream's when the exchange is translated */
	struct dispatch_req q = { x->u, x->xl && x->xl->on ? x->xl->upstream : x->rq->fmt,
				  v->model, v->stream, v->rt->name };
	enum dispatch_result dr;
	char ra[64];

	dr = dispatch_wait(v->a, v->r, &q, v->a->cfg.queue_wait_max, v1_tick, v,
			   s, &x->queue_id);
	if (dr == DISPATCH_GOT)
		return 1;
	/* retryable, soon: never a Retry-After past 60 s (CLIENTS.md) */
	snprintf(ra, sizeof(ra), "Retry-After: %d\r\n", dr == DISPATCH_TIMEOUT ? 5 : 10);
	switch (dr) {
	case DISPATCH_FULL:
		v1err_send(v->r, v->f, v1err_busy_status(v->f), NULL,
			   "upstream busy and the wait queue is full; retry shortly", NULL, ra);
		exchange_meter(x, v1err_busy_status(v->f), "queue full", NULL, NULL);
		break;
	case DISPATCH_TIMEOUT:
		v1err_send(v->r, v->f, v1err_busy_status(v->f), NULL,
			   "upstream busy: no slot freed in time; retry shortly", NULL, ra);
		exchange_meter(x, v1err_busy_status(v->f), "queue wait timeout", NULL, NULL);
		break;
	case DISPATCH_USER_FULL:
		v1err_send(v->r, v->f, 429, "rate_limit_error",
			   "too many of your requests are waiting or running; retry shortly", NULL, ra);
		exchange_meter(x, 429, "user queue full", NULL, NULL);
		break;
	case DISPATCH_GONE:
		log_info("client went away while waiting");
		exchange_meter(x, 499, "client gone while waiting", NULL, NULL);
		break;
	case DISPATCH_CANCELLED:
		v1err_send(v->r, v->f, 503, "api_error", "request cancelled by an operator", NULL, NULL);
		exchange_meter(x, 503, "cancelled", NULL, NULL);
		break;
	case DISPATCH_TOKENS:
		v1err_send(v->r, v->f, 429, "rate_limit_error", "daily token limit reached",
			   "token_limit", NULL);
		exchange_meter(x, 429, "daily token limit reached", NULL, NULL);
		break;
	default:
		v1err_send(v->r, v->f, 500, "api_error", "database error, retry later", NULL, NULL);
		exchange_meter(x, 500, "database error while waiting", NULL, NULL);
		break;
	}
	return 0;
}

/* Answers a refused admission (key or daily limit). */
static void v1_refuse(struct v1 *v, const struct admit *ad)
{
	char msg[300], hdr[200], reset[40];

	if (ad->auth != AUTH_OK) {
		v1err_send(v->r, v->f, 401, NULL,
			   ad->auth == AUTH_MISSING ? "missing API key (x-api-key or Authorization: Bearer)" :
			   ad->auth == AUTH_EXPIRED ? "API key expired" :
			   ad->auth == AUTH_DISABLED ? "user disabled" : "invalid API key",
			   "invalid_api_key", NULL);
		return;
	}
	if (ad->limit == LIMIT_CONCURRENT) {
		/* the user's own cap on requests in flight: retryable soon */
		v1err_send(v->r, v->f, 429, "rate_limit_error",
			   "too many concurrent requests for this user; retry shortly",
			   "concurrency_limit", "retry-after: 5\r\n");
		return;
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
	v1err_send(v->r, v->f, 429, "rate_limit_error", msg, "daily_limit_exceeded", hdr);
}

/* POST routes that go upstream on a slot and are metered. */
static void v1_proxy(struct v1 *v)
{
	struct admit_in in;
	struct admit ad;
	struct up_req rq;
	struct exch x;
	struct xroute xr;
	enum xroute_rc xr_rc;
	enum fmt_kind afmt;
	char day[11], url[2300], own[400];

	xroute_init(&xr);
	if (v1_read(v))
		return;
	db_today(day);
	/* the format whose backends serve this request: the client's, unless
	 * only a translating backend of the other format serves the model */
	backends_sync(&v->a->bk, v->a->db, 0);
	afmt = xroute_pick(&v->a->bk, &v->a->cfg, v->rt, v->model);
	in.key = route_api_key(v->r);
	in.today = day;
	in.fmt = afmt;
	in.model = v->model;
	in.route = v->rt->name;
	in.stream = v->stream;
	in.mc = app_meterc(v->a);
	if (admit_request(v->a->db, &v->a->cfg, &in, &ad)) {
		v1err_send(v->r, v->f, 500, "api_error", "database error, retry later", NULL, NULL);
		return;
	}
	if (ad.auth != AUTH_OK || ad.limit != LIMIT_OK) {
		v1_refuse(v, &ad);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	rq.fmt = v->rt->fmt;
	rq.body = v->body.data;
	rq.body_len = v->body.len;
	rq.stream = v->stream;
	rq.anthropic_version = web_header(v->r, "Anthropic-Version");
	rq.anthropic_beta = web_header(v->r, "Anthropic-Beta");
	rq.url = url;
	memset(&x, 0, sizeof(x));
	x.a = v->a;
	x.r = v->r;
	x.u = &ad.u;
	x.rq = &rq;
	x.model = v->model;
	x.route = v->rt->name;
	x.up_path = v->rt->up_path;
	x.v1 = 1;
	x.errfmt = v->f;
	v1_allowance(&ad, own, sizeof(own));
	x.own_headers = own;
	/* the request is reserved from here on: every refusal is metered */
	if (!models_allowed(ad.u.models, ad.u.models_set, v->model)) {
		v1err_send(v->r, v->f, 403, NULL, "this API key may not use that model",
			   "model_not_allowed", NULL);
		exchange_meter(&x, 403, "model not allowed", NULL, &ad.s);
		return;
	}
	if (route_upstream_url(&v->a->cfg, rq.fmt, v->rt->up_path, url, sizeof(url)))
		url[0] = '\0';   /* backend 0 lacks this format: another serves it */
	if (afmt != rq.fmt) {
		xr_rc = xroute_setup(&xr, &v->a->cfg, v->rt, v->req);
		if (xr_rc == XR_REFUSED) {
			v1_untranslatable(&x, &xr, &ad.s);
			xroute_free(&xr);
			return;
		}
		if (xr_rc == XR_OK)
			x.xl = &xr;
	}
	if (ad.slot == SLOT_NONE && !backends_sync(&v->a->bk, v->a->db, 0) &&
	    backend_others(&v->a->bk, rq.fmt, NULL, NULL, 0) > 0) {
		char msg[400];
		snprintf(msg, sizeof(msg), "the model `%.300s` is not served here", v->model);
		v1err_send(v->r, v->f, 404, v->f == FMT_ANTHROPIC ? "not_found_error" :
			   "invalid_request_error", msg, "model_not_found", NULL);
		exchange_meter(&x, 404, "model not served by any backend", NULL, &ad.s);
		xroute_free(&xr);
		return;
	}
	if (ad.slot == SLOT_NONE) {
		v1err_send(v->r, v->f, 500, "api_error", rq.fmt == FMT_ANTHROPIC ?
			   "configuration error: anthropic_url is not set" :
			   "configuration error: openai_url is not set", NULL, NULL);
		exchange_meter(&x, 500, "endpoint not configured", NULL, &ad.s);
		xroute_free(&xr);
		return;
	}
	if (ad.slot == SLOT_GOT || v1_wait(v, &x, &ad.s))
		exchange_forward(&x, &ad.s);
	xroute_free(&xr);
}

/* Authenticates without reserving (count_tokens, models are free).
 * Answers and returns -1 when the key is refused. */
static int v1_auth(struct v1 *v, struct auth_user *u)
{
	enum auth_status st;
	char day[11];
	struct admit ad;

	db_today(day);
	if (auth_check(v->a->db, route_api_key(v->r), day, u, &st)) {
		v1err_send(v->r, v->f, 500, "api_error", "database error, retry later", NULL, NULL);
		return -1;
	}
	if (st != AUTH_OK) {
		memset(&ad, 0, sizeof(ad));
		ad.auth = st;
		v1_refuse(v, &ad);
		return -1;
	}
	return 0;
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

/* POST /v1/messages/count_tokens: forwarded; answered locally when the
 * upstream lacks it. Never counted, never queued, no slot. */
static void v1_count_tokens(struct v1 *v)
{
	struct auth_user u;
	struct ct_dest c = { v->r, 0 };
	struct relay_dest d = { ct_start_plain, ct_write, ct_flush, &c, ct_start };
	struct relay_outcome oc;
	struct up_req rq;
	struct json_object *o;
	char url[2300];
	long long est;

	if (v1_read(v) || v1_auth(v, &u))
		return;
	if (!models_allowed(u.models, u.models_set, v->model)) {
		v1err_send(v->r, v->f, 403, NULL, "this API key may not use that model",
			   "model_not_allowed", NULL);
		return;
	}
	if (!route_upstream_url(&v->a->cfg, FMT_ANTHROPIC, v->rt->up_path, url, sizeof(url))) {
		memset(&rq, 0, sizeof(rq));
		rq.fmt = FMT_ANTHROPIC;
		rq.body = v->body.data;
		rq.body_len = v->body.len;
		rq.anthropic_version = web_header(v->r, "Anthropic-Version");
		rq.anthropic_beta = web_header(v->r, "Anthropic-Beta");
		rq.url = url;
		relay_exchange(v->a->up, &rq, &d, &oc);
		if (oc.started && !c.missing)
			return;
		if (!oc.started && oc.err != RE_OK) {
			char msg[400];
			snprintf(msg, sizeof(msg), "upstream request failed: %s", oc.error);
			v1err_send(v->r, v->f, 502, "api_error", msg, NULL, NULL);
			return;
		}
	}
	est = tokest_count(v->body.data, v->body.len);
	o = json_object_new_object();
	json_object_object_add(o, "input_tokens", json_object_new_int64(est < 0 ? 0 : est));
	if (resp_start(v->r, 200, "application/json", "X-Relay-Estimate: 1\r\n") == 0) {
		const char *s = json_object_to_json_string_ext(o, RESP_JSON_FLAGS);
		web_write(v->r, s, strlen(s));
	}
	json_object_put(o);
	log_info("count_tokens: local estimate %lld for user %s", est, u.name);
}

/* GET /v1/models in the client's list shape, filtered by its allow-list. */
static void v1_models(struct v1 *v)
{
	struct auth_user u;
	struct json_object *ids, *o;
	int anthropic = web_header(v->r, "Anthropic-Version") != NULL;

	if (anthropic)
		v->f = FMT_ANTHROPIC;
	if (v1_auth(v, &u))
		return;
	ids = models_list(v->a);
	o = models_render(ids, u.models, u.models_set, anthropic);
	resp_json(v->r, 200, o);
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
		v1err_send(v->r, v->f, 405, "invalid_request_error", msg, NULL,
			   strcmp(v->rt->method, "GET") == 0 ? "Allow: GET\r\n" : "Allow: POST\r\n");
		return;
	}
	snprintf(msg, sizeof(msg), "no route %.*s", ROUTE_PATH_MAX, path);
	v1err_send(v->r, v->f, 404, "not_found_error", msg, NULL, NULL);
}

void v1_handle(struct web_req *r, void *ctx)
{
	struct v1 v;
	char path[ROUTE_PATH_MAX + 2];
	size_t n;
	enum route_rc rc;

	memset(&v, 0, sizeof(v));
	v.a = ctx;
	v.r = r;
	buf_init(&v.body, 0);
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
		v1err_send(r, v.f, 500, "api_error", msg, NULL, NULL);
		goto out;
	}
	if (v.rt->id == ROUTE_MODELS)
		v1_models(&v);
	else if (v.rt->id == ROUTE_COUNT_TOKENS)
		v1_count_tokens(&v);
	else
		v1_proxy(&v);
out:
	json_object_put(v.req);
	buf_free(&v.body);
}
