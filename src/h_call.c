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
#include "fmt.h"
#include "log.h"
#include "meter.h"
#include "queue.h"
#include "relay.h"
#include "resp.h"
#include "slot.h"
#include "up.h"
#include "waitout.h"

#define MSG_DB "数据库错误,请稍后重试"

/* Meters a request that was admitted (its request counted) and ended here;
 * oc is the exchange's outcome or NULL when it never went upstream. */
static void call_meter(struct app *a, const struct auth_user *u,
		       const struct up_req *rq, const char *model,
		       int status, const char *error,
		       const struct relay_outcome *oc, struct slot *s,
		       long long queue_id)
{
	struct meter_rec m;

	memset(&m, 0, sizeof(m));
	m.queue_id = queue_id;
	m.route = "call";
	m.user_id = u->user_id;
	m.key_id = u->key_id;
	m.fmt = rq->fmt;
	m.model = model;
	m.stream = rq->stream;
	m.http_status = status;
	m.error = error;
	if (oc) {
		m.usage = oc->usage;
		m.latency_ms = oc->latency_ms;
	}
	if (meter_record(a->db, &m, s && s->held ? s->name : NULL))
		log_error("metering failed for user %s: %s", u->name, db_error(a->db));
	if (s)
		s->held = 0;   /* released by relay_finish (or with the connection) */
}

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
static void call_enqueue(struct app *a, struct web_req *r,
			 const struct auth_user *u, const struct up_req *rq,
			 const char *model)
{
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
		call_meter(a, u, rq, model, 503, "queue full", NULL, NULL, 0);
		resp_error(r, 503, "队列已满,请稍后重试", NULL);
		return;
	}
	if (!rc && why == QUEUE_USER_FULL) {
		call_meter(a, u, rq, model, 429, "user queue limit", NULL, NULL, 0);
		resp_error(r, 429, "您的排队请求数已达上限,请稍后重试", NULL);
		return;
	}
	if (rc) {
		resp_error(r, 500, MSG_DB, NULL);
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

static void call_sse_error(struct web_req *r, int status, const char *message)
{
	resp_sse_error(r, status, message);
}

/* Forwards while holding a slot, then meters (queue_id: the inline
 * waiter's row, 0 for a direct call). */
static void call_forward(struct app *a, struct web_req *r,
			 const struct auth_user *u, const struct up_req *rq,
			 const char *model, struct slot *s, long long queue_id,
			 struct waitout *w)
{
	struct relay_dest d;
	struct relay_outcome oc;

	waitout_dest(w, &d);
	relay_exchange(a->up, rq, &d, &oc);
	if (waitout_finish(w, &oc))
		;   /* the open event stream got its end */
	else if (oc.err == RE_EINVAL && !oc.started)
		resp_error(r, 400, "请求头包含非法字符", NULL);
	else if (oc.err != RE_OK && !oc.started) {
		char msg[400];
		snprintf(msg, sizeof(msg), "大模型API调用失败: %s", oc.error);
		resp_error(r, 502, msg, NULL);
	}
	/* The client has its answer: release the slot and meter after. */
	web_finish(r);
	call_meter(a, u, rq, model, oc.status, oc.error[0] ? oc.error : NULL, &oc, s,
		   queue_id);
	log_info("user=%s format=%s model=%s stream=%d status=%d tokens=%lld/%lld latency=%ldms%s%s",
		 u->name, fmt_name(rq->fmt), model, rq->stream, oc.status,
		 usage_prompt(&oc.usage), usage_completion(&oc.usage),
		 oc.latency_ms, oc.error[0] ? " error=" : "", oc.error);
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

/* Answers a waiter that did not get a slot, and meters it once. */
static void call_wait_refused(struct app *a, struct web_req *r,
			      const struct auth_user *u, const struct up_req *rq,
			      const char *model, enum dispatch_result dr,
			      long long id)
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
		if (r->headers_sent)
			resp_sse_error(r, code, msg);
		else
			resp_error_h(r, code, msg, NULL,
				     "Retry-After: 10\r\nCache-Control: no-store\r\n");
	}
	web_finish(r);
	call_meter(a, u, rq, model, code, log, NULL, NULL, id);
}

/* Waits in line on this connection (X-Relay-Wait), then forwards. */
static void call_wait(struct app *a, struct web_req *r, const struct auth_user *u,
		      const struct up_req *rq, const char *model, int seconds)
{
	struct dispatch_req q = { u, rq->fmt, model, rq->stream, "call" };
	struct waitout w;
	struct slot s;
	long long id = 0;
	enum dispatch_result dr;

	waitout_init(&w, r, rq->stream, call_sse_error);
	dr = dispatch_wait(a, r, &q, seconds, waitout_tick, &w, &s, &id);
	if (dr == DISPATCH_GOT)
		call_forward(a, r, u, rq, model, &s, id, &w);
	else
		call_wait_refused(a, r, u, rq, model, dr, id);
	waitout_free(&w);
}

void call_handle(struct web_req *r, void *ctx)
{
	struct app *a = ctx;
	struct json_object *req = NULL, *data;
	struct admit ad;
	struct up_req rq;
	struct buf body;
	const char *why = NULL, *model;
	char day[11], msg[200];
	int code, wait_s;

	buf_init(&body, 0);
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
	db_today(day);
	if (admit_request(a->db, &a->cfg, web_header(r, "X-API-Key"), day, &ad)) {
		resp_error(r, 500, MSG_DB, NULL);
		goto out;
	}
	if (ad.auth != AUTH_OK) {
		resp_error(r, 401, auth_message(ad.auth), NULL);
		goto out;
	}
	if (ad.limit == LIMIT_CONCURRENT) {
		resp_error_h(r, 429, "您的并发请求数已达上限,请稍后重试", NULL,
			     "Retry-After: 5\r\nCache-Control: no-store\r\n");
		goto out;
	}
	if (ad.limit == LIMIT_REQUESTS) {
		data = json_object_new_object();
		json_object_object_add(data, "request_limit", json_object_new_int64(ad.u.daily_requests));
		json_object_object_add(data, "request_used", json_object_new_int64(ad.requests_used));
		resp_error(r, 429, "今日请求次数已达上限", data);
		goto out;
	}
	if (ad.limit == LIMIT_TOKENS) {
		data = json_object_new_object();
		json_object_object_add(data, "token_limit", json_object_new_int64(ad.u.daily_tokens));
		json_object_object_add(data, "token_used", json_object_new_int64(ad.tokens_used));
		resp_error(r, 429, "今日Token用量已达上限", data);
		goto out;
	}

	memset(&rq, 0, sizeof(rq));
	rq.body = body.data;
	rq.body_len = body.len;
	rq.stream = fmt_is_stream(req);
	rq.anthropic_version = web_header(r, "Anthropic-Version");
	rq.anthropic_beta = web_header(r, "Anthropic-Beta");
	model = json_object_get_string(json_object_object_get(req, "model"));
	if (fmt_detect(req, web_header(r, "X-API-Format"), rq.anthropic_version,
		       &rq.fmt)) {
		why = "X-API-Format 只能是 openai 或 anthropic";
		code = 400;
		goto refuse;
	}
	if (!up_url(&a->cfg, rq.fmt)) {
		snprintf(msg, sizeof(msg), "系统配置错误: 未配置%s端点 (%s)",
			 rq.fmt == FMT_ANTHROPIC ? "Anthropic" : "OpenAI",
			 rq.fmt == FMT_ANTHROPIC ? "anthropic_url" : "openai_url");
		why = msg;
		code = 500;
		goto refuse;
	}

	if (ad.slot == SLOT_GOT) {
		struct waitout w;
		waitout_init(&w, r, rq.stream, call_sse_error);
		call_forward(a, r, &ad.u, &rq, model, &ad.s, 0, &w);
		waitout_free(&w);
	} else if (wait_s) {
		call_wait(a, r, &ad.u, &rq, model, wait_s);
	} else {
		call_enqueue(a, r, &ad.u, &rq, model);
	}
	goto out;

refuse:
	/* The request was reserved: log it as an error so nothing vanishes,
	 * and give back the slot the admission may have taken. */
	resp_error(r, code, why, NULL);
	call_meter(a, &ad.u, &rq, model, code, why, NULL, &ad.s, 0);
out:
	json_object_put(req);
	buf_free(&body);
}
