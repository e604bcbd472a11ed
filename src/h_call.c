/* h_call.c - POST /api/call.php: authenticate, meter, detect the format,
 * forward now or queue (SPEC §3). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "admit.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "fmt.h"
#include "log.h"
#include "meter.h"
#include "queue.h"
#include "relay.h"
#include "resp.h"
#include "slot.h"
#include "up.h"

#define MSG_DB "数据库错误,请稍后重试"

/* relay_dest callbacks writing straight to the client. */
static int call_start(void *ctx, int status, const char *ct, int sse)
{
	return resp_start(ctx, status, ct, sse ?
		"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n" : NULL);
}

static int call_write(void *ctx, const char *p, size_t n)
{
	return web_write(ctx, p, n);
}

static int call_flush(void *ctx)
{
	return web_flush(ctx);
}

/* Meters a request that was admitted (its request counted) and ended here;
 * oc is the exchange's outcome or NULL when it never went upstream. */
static void call_meter(struct app *a, const struct auth_user *u,
		       const struct up_req *rq, const char *model,
		       int status, const char *error,
		       const struct relay_outcome *oc, struct slot *s)
{
	struct meter_rec m;

	memset(&m, 0, sizeof(m));
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
	/* A slot lost with its connection is not ours to release. */
	if (meter_record(a->db, &m, s && lock_held(a->db, s) ? s->name : NULL))
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
	int full;
	enum relay_err rc;

	rc = queue_push(a->db, &a->cfg, u, rq->fmt, model, rq->stream,
			call_headers_json(rq, &hold), rq->body, rq->body_len,
			&id, &full);
	json_object_put(hold);
	if (rc == RE_EBUSY || (!rc && full)) {
		call_meter(a, u, rq, model, 503, "queue full", NULL, NULL);
		resp_error(r, 503, "队列已满,请稍后重试", NULL);
		return;
	}
	if (rc) {
		/* The request was reserved: give it its log row. If the insert
		 * was lost after the server ran it (db_unknown), the item also
		 * runs and gets a row of its own; the client, told 500, has
		 * no id for it. */
		resp_error(r, 500, MSG_DB, NULL);
		call_meter(a, u, rq, model, 500, db_unknown(a->db) ?
			   "database connection lost while queueing (item may exist)" :
			   "database error while queueing", NULL, NULL);
		return;
	}
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

struct call_tick {
	struct app *a;
	struct slot *s;
};

/* During the exchange: the slot lives on the database connection; if that
 * connection dies, take the slot again at once, or stop the exchange so
 * no more calls than upstream_slots run. */
static const char *call_tick(void *ctx)
{
	struct call_tick *t = ctx;

	if (lock_keep(t->a->db, t->s) == RE_OK)
		return NULL;
	log_error("upstream slot %s lost with the database connection; exchange stopped",
		  t->s->name);
	return "relay lost its upstream slot (database connection lost)";
}

/* Forwards while holding a slot, then meters. */
static void call_forward(struct app *a, struct web_req *r,
			 const struct auth_user *u, const struct up_req *rq0,
			 const char *model, struct slot *s)
{
	struct relay_dest d = { call_start, call_write, call_flush, r };
	struct call_tick t = { a, s };
	struct relay_outcome oc;
	struct up_req rqt = *rq0;
	const struct up_req *rq = &rqt;

	rqt.tick = call_tick;
	rqt.tick_ctx = &t;
	relay_exchange(a->up, rq, &d, &oc);
	if (oc.err == RE_EINVAL && !oc.started)
		resp_error(r, 400, "请求头包含非法字符", NULL);
	else if (oc.err != RE_OK && !oc.started) {
		char msg[400];
		snprintf(msg, sizeof(msg), "大模型API调用失败: %s", oc.error);
		resp_error(r, 502, msg, NULL);
	}
	/* The client has its answer: release the slot and meter after. */
	web_finish(r);
	call_meter(a, u, rq, model, oc.status, oc.error[0] ? oc.error : NULL, &oc, s);
	log_info("user=%s format=%s model=%s stream=%d status=%d tokens=%lld/%lld latency=%ldms%s%s",
		 u->name, fmt_name(rq->fmt), model, rq->stream, oc.status,
		 usage_prompt(&oc.usage), usage_completion(&oc.usage),
		 oc.latency_ms, oc.error[0] ? " error=" : "", oc.error);
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
	int code;

	buf_init(&body, 0);
	if (strcmp(r->method, "POST") != 0) {
		resp_error(r, 405, "请使用POST方法", NULL);
		goto out;
	}
	if (!app_ready(a, r))
		goto out;
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

	if (ad.slot == SLOT_GOT)
		call_forward(a, r, &ad.u, &rq, model, &ad.s);
	else
		call_enqueue(a, r, &ad.u, &rq, model);
	goto out;

refuse:
	/* The request was reserved: log it as an error so nothing vanishes,
	 * and give back the slot the admission may have taken. */
	resp_error(r, code, why, NULL);
	call_meter(a, &ad.u, &rq, model, code, why, NULL, &ad.s);
out:
	json_object_put(req);
	buf_free(&body);
}
