/* h_call.c - POST /api/call.php: authenticate, meter, detect the format,
 * forward now or queue (SPEC §3). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "admit.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "dispatch.h"
#include "exchange.h"
#include "fmt.h"
#include "log.h"
#include "meter.h"
#include "queue.h"
#include "relay.h"
#include "route.h"
#include "resp.h"
#include "slot.h"
#include "up.h"

#define MSG_DB "数据库错误,请稍后重试"

/* The headers a queued item needs upstream, as a JSON object text. The
 * caller owns the result (json_object_put on *holder). */
static const char *call_headers_json(const struct up_req *rq,
				     struct json_object **holder)
{
	struct json_object *o = json_object_new_object();

	if (rq->anthropic_version)
		json_object_object_add(o, "anthropic-version",
				       json_object_new_string(rq->anthropic_version));
	if (rq->anthropic_beta)
		json_object_object_add(o, "anthropic-beta",
				       json_object_new_string(rq->anthropic_beta));
	*holder = o;
	return json_object_to_json_string_ext(o, RESP_JSON_FLAGS);
}

/* Answers 202 with the queue id, or 503 when the queue is full. */
static void call_enqueue(const struct exch *x)
{
	struct app *a = x->a;
	struct web_req *r = x->r;
	const struct auth_user *u = x->u;
	const struct up_req *rq = x->rq;
	const char *model = x->model;
	struct json_object *hold = NULL, *o;
	long long id;
	enum relay_err rc;
	struct queue_new n;
	enum queue_refusal why;

	memset(&n, 0, sizeof(n));
	n.u = u;
	n.fmt = rq->fmt;
	n.model = model;
	n.stream = rq->stream;
	n.route = "call";
	n.headers_json = call_headers_json(rq, &hold);
	n.body = rq->body;
	n.body_len = rq->body_len;
	rc = queue_push(a->db, &a->cfg, &n, &id, &why);
	json_object_put(hold);
	if (rc == RE_EBUSY || (!rc && why == QUEUE_FULL)) {
		exchange_meter(x, 503, "queue full", NULL, NULL);
		resp_error(r, 503, "队列已满,请稍后重试", NULL);
		return;
	}
	if (!rc && why == QUEUE_USER_FULL) {
		exchange_meter(x, 429, "user queue limit", NULL, NULL);
		resp_error_h(r, 429, "您的排队请求数已达上限,请稍后重试", NULL,
			     "Retry-After: 10\r\nCache-Control: no-store\r\n");
		return;
	}
	if (rc) {
		/* The request was reserved: give it its log row. If the insert
		 * was lost after the server ran it (db_unknown), the item also
		 * runs and gets a row of its own; the client, told 500, has
		 * no id for it. */
		resp_error(r, 500, MSG_DB, NULL);
		exchange_meter(x, 500, db_unknown(a->db) ?
			       "database connection lost while queueing (item may exist)" :
			       "database error while queueing", NULL, NULL);
		return;
	}
	/* A slot may have freed since the admission looked: let a worker
	 * know at once instead of at the end of its nap. */
	dispatch_wake(a->db, &a->cfg);
	log_info("queued as %lld (user %s, priority %d)", id, u->name, u->priority);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "queued", json_object_new_boolean(1));
	json_object_object_add(o, "queue_id", json_object_new_int64(id));
	json_object_object_add(o, "message", json_object_new_string(
		"请求已进入队列,请通过 /api/queue_status.php 查询处理状态"));
	resp_json(r, 202, o);
	json_object_put(o);
}

/* X-Relay-Wait: seconds (1..86400), or 0 when absent; -1 when invalid. */
static int call_wait_header(struct web_req *r)
{
	const char *v = web_header(r, "X-Relay-Wait");
	long n = 0;

	if (!v || !*v)
		return 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > 86400)
			return -1;
		n = n * 10 + (*v - '0');
	}
	return n >= 1 && n <= 86400 ? (int)n : -1;
}

/* dispatch_tick_fn: a streaming waiter's event stream opens with the
 * first tick and gets a comment line each time; others are only
 * watched. */
static int call_tick(void *ctx, long long position)
{
	const struct exch *x = ctx;
	char line[80];
	int n;

	if (!x->rq->stream)
		return web_gone_now(x->r);
	if (!x->r->headers_sent &&
	    resp_start(x->r, 200, "text/event-stream",
		       "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n") < 0)
		return 1;
	n = snprintf(line, sizeof(line), ": queued, position %lld\n\n", position);
	return web_write(x->r, line, (size_t)n) || web_flush(x->r);
}

/* Answers a waiter that did not get a slot, and meters it once. */
static void call_wait_refused(const struct exch *x, enum dispatch_result dr)
{
	const char *msg = "队列已满,请稍后重试", *log = "queue full";
	int code = 503;

	switch (dr) {
	case DISPATCH_USER_FULL:
		code = 429;
		msg = "您的排队请求数已达上限,请稍后重试";
		log = "user queue limit";
		break;
	case DISPATCH_TIMEOUT:
		msg = "排队等待超时,请稍后重试";
		log = "queue wait timeout";
		break;
	case DISPATCH_CANCELLED:
		msg = "请求已被管理员取消";
		log = "cancelled by administrator";
		break;
	case DISPATCH_TOKENS:
		code = 429;
		msg = log = "今日Token用量已达上限";
		break;
	case DISPATCH_GONE:
		code = 499;
		log = "client disconnected while queued";
		break;
	case DISPATCH_EDB:
		msg = MSG_DB;
		log = "database error while queued";
		break;
	default:
		break;
	}
	if (dr != DISPATCH_GONE) {
		if (x->r->headers_sent)
			resp_sse_error(x->r, code, msg);
		else
			resp_error_h(x->r, code, msg, NULL,
				     "Retry-After: 10\r\nCache-Control: no-store\r\n");
	}
	web_finish(x->r);
	exchange_meter(x, code, log, NULL, NULL);
}

/* Waits in line on this connection (X-Relay-Wait), then forwards. */
static void call_wait(struct exch *x, int seconds)
{
	struct dispatch_req q = { x->u, x->rq->fmt, x->model, x->rq->stream, "call" };
	struct slot s;
	enum dispatch_result dr;

	dr = dispatch_wait(x->a, x->r, &q, seconds, call_tick, x, &s, &x->queue_id);
	if (dr == DISPATCH_GOT)
		exchange_forward(x, &s);
	else
		call_wait_refused(x, dr);
}

/* 1 when the request names a path below call.php: PATH_INFO, or a
 * REQUEST_URI that continues SCRIPT_NAME with "/..." (servers that do not
 * split PATH_INFO off). */
static int call_has_subpath(struct web_req *r)
{
	const char *pi = web_param(r, "PATH_INFO");
	const char *uri = web_param(r, "REQUEST_URI");
	const char *sn = web_param(r, "SCRIPT_NAME");
	size_t n;

	if (pi && *pi)
		return 1;
	if (!uri || !sn || !*sn)
		return 0;
	n = strlen(sn);
	return strncmp(uri, sn, n) == 0 && uri[n] == '/' && uri[n + 1] &&
	       uri[n + 1] != '?';
}

/* A daily limit reached: 429 with the limit and the use so far in data. */
static void call_limit_429(struct web_req *r, const char *msg, const char *lk, long long limit,
			   const char *uk, long long used)
{
	struct json_object *data = json_object_new_object();

	json_object_object_add(data, lk, json_object_new_int64(limit));
	json_object_object_add(data, uk, json_object_new_int64(used));
	resp_error(r, 429, msg, data);
}

/* Answers an admission that did not admit (a bad key, a cap or a daily
 * limit reached) in the seed's shapes; 0 when the request goes on. */
static int call_refused(struct web_req *r, const struct admit *ad)
{
	if (ad->auth != AUTH_OK) {
		resp_error(r, 401, auth_message(ad->auth), NULL);
		return 1;
	}
	if (ad->limit == LIMIT_CONCURRENT) {
		resp_error_h(r, 429, "您的并发请求数已达上限,请稍后重试", NULL,
			     "Retry-After: 5\r\nCache-Control: no-store\r\n");
		return 1;
	}
	if (ad->limit == LIMIT_REQUESTS) {
		call_limit_429(r, "今日请求次数已达上限", "request_limit", ad->u.daily_requests,
			       "request_used", ad->requests_used);
		return 1;
	}
	if (ad->limit == LIMIT_TOKENS) {
		call_limit_429(r, "今日Token用量已达上限", "token_limit", ad->u.daily_tokens,
			       "token_used", ad->tokens_used);
		return 1;
	}
	return 0;
}

/* The exchange of an admitted request: the body as it came, for the
 * client's format's upstream path. */
static void call_exch_init(struct exch *x, struct up_req *rq, struct app *a,
			   struct web_req *r, struct admit *ad, const struct buf *body,
			   struct json_object *req, const char *model, enum fmt_kind f)
{
	memset(rq, 0, sizeof(*rq));
	memset(x, 0, sizeof(*x));
	x->a = a;
	x->r = r;
	x->u = &ad->u;
	x->rq = rq;
	x->route = "call";
	rq->body = body->data;
	rq->body_len = body->len;
	rq->stream = fmt_is_stream(req);
	rq->anthropic_version = web_header(r, "Anthropic-Version");
	rq->anthropic_beta = web_header(r, "Anthropic-Beta");
	x->model = model;
	rq->fmt = f;
	x->up_path = f == FMT_ANTHROPIC ? "/v1/messages" : "/chat/completions";
}

void call_handle(struct web_req *r, void *ctx)
{
	struct app *a = ctx;
	struct json_object *req = NULL;
	struct admit_in in;
	struct admit ad;
	struct up_req rq;
	struct exch x;
	struct buf body;
	const char *why = NULL, *model;
	char day[11], msg[200];
	int code, wait_s, bad_fmt;
	enum fmt_kind f = FMT_OPENAI;

	buf_init(&body, 0);
	/* /api/call.php/v1/... is the SDK routes' table (a base URL of
	 * http://host/api/call.php works for Claude Code and the SDKs) */
	if (call_has_subpath(r)) {
		v1_handle(r, ctx);
		goto out;
	}
	if (strcmp(r->method, "POST") != 0) {
		resp_error(r, 405, "请使用POST方法", NULL);
		goto out;
	}
	if (!app_ready(a, r))
		goto out;
	wait_s = call_wait_header(r);
	if (wait_s < 0) {
		resp_error(r, 400, "X-Relay-Wait 必须是 1 到 86400 之间的秒数", NULL);
		goto out;
	}
	code = app_read_body(a, r, &body, &why);
	if (code) {
		resp_error(r, code, why, NULL);
		goto out;
	}
	if (fmt_parse_request(body.data, body.len, &req, &why)) {
		resp_error(r, 400, why, NULL);
		goto out;
	}
	/* the format and model pick the backend (sql/013); a bad
	 * X-API-Format is refused below, after the admission, as before */
	model = json_object_get_string(json_object_object_get(req, "model"));
	bad_fmt = fmt_detect(req, web_header(r, "X-API-Format"),
			     web_header(r, "Anthropic-Version"), &f);
	db_today(day);
	in.key = route_api_key(r);
	in.today = day;
	in.fmt = bad_fmt ? FMT_OPENAI : f;
	in.model = model;
	in.route = "call";
	in.stream = fmt_is_stream(req);
	in.mc = app_meterc(a);
	if (admit_request(a->db, &a->cfg, &in, &ad)) {
		resp_error(r, 500, MSG_DB, NULL);
		goto out;
	}
	if (call_refused(r, &ad))
		goto out;

	call_exch_init(&x, &rq, a, r, &ad, &body, req, model, f);
	if (bad_fmt) {
		why = "X-API-Format 只能是 openai 或 anthropic";
		code = 400;
		goto refuse;
	}
	if (ad.slot == SLOT_NONE && !backends_sync(&a->bk, a->db, 0) &&
	    backend_others(&a->bk, f, NULL, NULL, 0) > 0) {
		snprintf(msg, sizeof(msg), "没有可用的上游服务此模型: %s", model ? model : "");
		why = msg;
		code = 400;
		goto refuse;
	}
	if (ad.slot == SLOT_NONE) {
		snprintf(msg, sizeof(msg), "系统配置错误: 未配置%s端点 (%s)",
			 rq.fmt == FMT_ANTHROPIC ? "Anthropic" : "OpenAI",
			 rq.fmt == FMT_ANTHROPIC ? "anthropic_url" : "openai_url");
		why = msg;
		code = 500;
		goto refuse;
	}

	if (ad.slot == SLOT_GOT)
		exchange_forward(&x, &ad.s);
	else if (wait_s)
		call_wait(&x, wait_s);
	else
		call_enqueue(&x);
	goto out;

refuse:
	/* The request was reserved: log it as an error so nothing vanishes,
	 * and give back the slot the admission may have taken. */
	resp_error(r, code, why, NULL);
	exchange_meter(&x, code, why, NULL, &ad.s);
out:
	json_object_put(req);
	buf_free(&body);
}
