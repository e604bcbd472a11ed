/* h_call.c - POST /api/call.php (SPEC §3): reads the seed's request
 * (body, format detection, X-Relay-Wait) and says in the seed's shapes how
 * each outcome of the one door pipeline (door.h) is answered: forward now,
 * wait inline, or queue (202). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "doors.h"
#include "auth.h"
#include "door.h"
#include "fmt.h"
#include "jkeys.h"
#include "resp.h"
#include "web.h"

#define MSG_DB "数据库错误,请稍后重试"

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
	/* the seed's proxy routes (issue 28), wherever the server maps them */
	if (uri && (strncmp(uri, "/api/catalog", 12) == 0 ||
		    strncmp(uri, "/api/generate-url", 17) == 0 || strncmp(uri, "/proxy/", 7) == 0 ||
		    strcmp(uri, "/proxy") == 0))
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

/* The seed's answer to a busy upstream's outcomes (a queue full, a wait
 * that ran out or was cancelled): an SSE error event when a waiter's
 * stream is already open, else the error with a Retry-After. */
static int call_busy(struct web_req *r, int code, const char *msg)
{
	if (r->headers_sent)
		resp_sse_error(r, code, msg);
	else
		resp_error_h(r, code, msg, NULL,
			     "Retry-After: 10\r\nCache-Control: no-store\r\n");
	return code;
}

/* 202 with the polled item's id. */
static int call_queued(struct door_req *d)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "queued", json_object_new_boolean(1));
	json_object_object_add(o, "queue_id", json_object_new_int64(d->queue_id));
	json_object_object_add(o, "message", json_object_new_string(
		"请求已进入队列,请通过 /api/queue_status.php 查询处理状态"));
	resp_json(d->r, 202, o);
	json_object_put(o);
	return 202;
}

/* call.php's answers to what the server refused or could not serve. */
static int call_answer_server(struct door_req *d, enum door_outcome o)
{
	char msg[400];
	int anth = d->rq.fmt == FMT_ANTHROPIC;

	if (o == DOOR_NOT_SERVED) {
		snprintf(msg, sizeof(msg), "没有可用的上游服务此模型: %.300s",
			 d->in.model ? d->in.model : "");
		resp_error(d->r, 400, msg, NULL);
		return 400;
	}
	if (o == DOOR_NO_ENDPOINT) {
		snprintf(msg, sizeof(msg), "系统配置错误: 未配置%s端点 (%s)",
			 anth ? "Anthropic" : "OpenAI", anth ? "anthropic_url" : "openai_url");
		resp_error(d->r, 500, msg, NULL);
		return 500;
	}
	switch (o) {
	case DOOR_QUEUE_FULL:      return call_busy(d->r, 503, "队列已满,请稍后重试");
	case DOOR_USER_QUEUE_FULL: return call_busy(d->r, 429, "您的排队请求数已达上限,请稍后重试");
	case DOOR_WAIT_TIMEOUT:    return call_busy(d->r, 503, "排队等待超时,请稍后重试");
	case DOOR_CANCELLED:       return call_busy(d->r, 503, "请求已被管理员取消");
	case DOOR_WAIT_TOKENS:     return call_busy(d->r, 429, "今日Token用量已达上限");
	case DOOR_GONE:            return 499;
	case DOOR_QUEUED:          return call_queued(d);
	default:                   return call_busy(d->r, 500, MSG_DB);
	}
}

/* door_ops.answer of call.php: the seed's {"success":false,...} shapes. */
static int call_answer(struct door_req *d, enum door_outcome o)
{
	const struct admit *ad = &d->ad;
	char msg[400];

	switch (o) {
	case DOOR_EDB:
		resp_error(d->r, 500, MSG_DB, NULL);
		return 500;
	case DOOR_AUTH:
		resp_error(d->r, 401, auth_message(ad->auth), NULL);
		return 401;
	case DOOR_CONCURRENT:
		resp_error_h(d->r, 429, "您的并发请求数已达上限,请稍后重试", NULL,
			     "Retry-After: 5\r\nCache-Control: no-store\r\n");
		return 429;
	case DOOR_DAILY_REQUESTS:
		call_limit_429(d->r, "今日请求次数已达上限", "request_limit",
			       ad->u.daily_requests, "request_used", ad->requests_used);
		return 429;
	case DOOR_DAILY_TOKENS:
		call_limit_429(d->r, "今日Token用量已达上限", "token_limit",
			       ad->u.daily_tokens, "token_used", ad->tokens_used);
		return 429;
	case DOOR_MODEL_NOT_ALLOWED:
		snprintf(msg, sizeof(msg), "此API Key无权使用该模型: %.300s",
			 d->in.model ? d->in.model : "");
		resp_error(d->r, 403, msg, NULL);
		return 403;
	case DOOR_INVALID:
	case DOOR_UNTRANSLATABLE:
		resp_error(d->r, 400, d->why, NULL);
		return 400;
	case DOOR_TRANSLATE_FAILED:
		resp_error(d->r, 500, d->why, NULL);
		return 500;
	default:
		return call_answer_server(d, o);
	}
}

/* door_ops.check: a bad X-API-Format is refused after the admission (it
 * counts as the day's request), as call.php always did. */
static enum door_outcome call_check(struct door_req *d)
{
	const int *bad_fmt = d->ctx;

	if (!*bad_fmt)
		return DOOR_OK;
	d->why = "X-API-Format 只能是 openai 或 anthropic";
	return DOOR_INVALID;
}

static const struct door_ops call_door = { call_answer, call_check, NULL };

/* The request as it came, for the client's format's upstream path;
 * busy: wait inline for wait_s seconds, or (0) queue as a polled item. */
static void call_door_fill(struct door_req *d, const struct buf *body,
			   struct json_object *req, enum fmt_kind f, int bad_fmt, int wait_s)
{
	d->in.fmt = bad_fmt ? FMT_OPENAI : f;
	d->in.model = json_object_get_string(json_object_object_get(req, "model"));
	d->in.route = "call";
	d->in.stream = fmt_is_stream(req);
	d->rq.body = body->data;
	d->rq.body_len = body->len;
	d->rq.stream = d->in.stream;
	d->rq.anthropic_version = web_header(d->r, "Anthropic-Version");
	d->rq.anthropic_beta = web_header(d->r, "Anthropic-Beta");
	d->rq.fmt = f;
	d->x.route = "call";
	d->x.up_path = f == FMT_ANTHROPIC ? "/v1/messages" : "/chat/completions";
	d->wait_s = wait_s;
}

void call_handle(struct web_req *r, void *ctx)
{
	struct app *a = ctx;
	struct json_object *req = NULL;
	struct door_req d;
	struct buf body;
	const char *why = NULL;
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
	/* issue 25 point 3: a deciding key given twice (jkeys.h) */
	if (jkeys_dup(body.data, body.len)) {
		resp_error(r, 400, "请求体中有重复的键 (model、stream、stream_options 等)", NULL);
		goto out;
	}
	/* the format and model pick the backend (relay_take_slot) */
	bad_fmt = fmt_detect(req, web_header(r, "X-API-Format"),
			     web_header(r, "Anthropic-Version"), &f);
	door_init(&d, a, r, &call_door, &bad_fmt);
	call_door_fill(&d, &body, req, f, bad_fmt, wait_s);
	door_run(&d);
out:
	json_object_put(req);
	buf_free(&body);
}
