/* exchange.c - forward, answer, meter once. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "auth.h"
#include "buf.h"
#include "db.h"
#include "exchange.h"
#include "hdrpass.h"
#include "log.h"
#include "meter.h"
#include "resp.h"
#include "slot.h"
#include "v1err.h"

/* State of the client side of one exchange. */
struct exch_dest {
	const struct exch *x;
	int wrap;            /* the SSE headers were out before the upstream
				answered with an error: collect its body */
	int status;
	struct buf errbody;
};

/* Writes the status line with the passed upstream headers and, on a 2xx,
 * the caller's own allowance (which replaces the upstream's same names). */
static int ed_start(void *ctx, int status, const char *ct, int sse,
		    const char *up_headers)
{
	struct exch_dest *e = ctx;
	struct web_req *r = e->x->r;
	char pass[HDRPASS_MAX];
	struct buf h;
	int ok2xx = status >= 200 && status < 300, rc;

	e->status = status;
	if (r->headers_sent) {
		/* a waiter's stream is open: success continues it, an error
		 * is turned into an event once its body is complete */
		if (!ok2xx)
			e->wrap = 1;
		return 0;
	}
	buf_init(&h, 8192);
	if (sse)
		buf_puts(&h, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
	if (up_headers) {
		hdrpass_copy(pass, sizeof(pass), up_headers,
			     ok2xx && e->x->own_headers != NULL);
		buf_puts(&h, pass);
	}
	if (ok2xx && e->x->own_headers)
		buf_puts(&h, e->x->own_headers);
	rc = resp_start(r, status, ct, h.len ? h.data : NULL);
	buf_free(&h);
	return rc;
}

static int ed_start_plain(void *ctx, int status, const char *ct, int sse)
{
	return ed_start(ctx, status, ct, sse, NULL);
}

static int ed_write(void *ctx, const char *p, size_t n)
{
	struct exch_dest *e = ctx;

	if (e->wrap) {
		buf_append(&e->errbody, p, n);   /* capped: the rest is dropped */
		return 0;
	}
	return web_write(e->x->r, p, n);
}

static int ed_flush(void *ctx)
{
	struct exch_dest *e = ctx;

	return e->wrap ? 0 : web_flush(e->x->r);
}

/* The upstream's error message and type from its JSON body (either API's
 * shape) into the caller's buffers; defaults when it has none. */
static void ed_upstream_error(const struct buf *b, char *msg, size_t msglen,
			      char *type, size_t typelen)
{
	struct json_object *o = b->len ? json_tokener_parse(b->data) : NULL, *e, *v;

	snprintf(msg, msglen, "upstream error");
	type[0] = '\0';
	if (json_object_object_get_ex(o, "error", &e)) {
		if (json_object_object_get_ex(e, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			snprintf(msg, msglen, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(e, "type", &v) &&
		    json_object_is_type(v, json_type_string))
			snprintf(type, typelen, "%s", json_object_get_string(v));
	}
	json_object_put(o);
}

void exchange_meter(const struct exch *x, int status, const char *error,
		    const struct relay_outcome *oc, struct slot *s)
{
	struct meter_rec m;

	memset(&m, 0, sizeof(m));
	m.user_id = x->u->user_id;
	m.key_id = x->u->key_id;
	m.queue_id = x->queue_id;
	m.fmt = x->rq->fmt;
	m.model = x->model;
	m.stream = x->rq->stream;
	m.http_status = status;
	m.error = error;
	m.route = x->route;
	m.day = x->u->day;
	m.admit_id = x->u->admit_id;
	if (oc) {
		m.usage = oc->usage;
		m.latency_ms = oc->latency_ms;
	}
	/* A slot lost with its connection is not ours to release. */
	if (meter_record(x->a->db, &m, s && lock_held(x->a->db, s) ? s->name : NULL))
		log_error("metering failed for user %s: %s", x->u->name,
			  db_error(x->a->db));
	if (s)
		s->held = 0;   /* released by relay_finish (or with the connection) */
}

/* Answers an exchange that failed before the upstream answered. */
static void exchange_fail(const struct exch *x, const struct relay_outcome *oc)
{
	char msg[400];

	if (oc->err == RE_EINVAL) {
		if (x->v1)
			v1err_send(x->r, x->errfmt, 400, NULL,
				   "a request header has an invalid value", NULL, NULL);
		else
			resp_error(x->r, 400, "请求头包含非法字符", NULL);
		return;
	}
	if (x->v1) {
		snprintf(msg, sizeof(msg), "upstream request failed: %s", oc->error);
		v1err_send(x->r, x->errfmt, 502, "api_error", msg, NULL, NULL);
	} else {
		snprintf(msg, sizeof(msg), "大模型API调用失败: %s", oc->error);
		resp_error(x->r, 502, msg, NULL);
	}
}

struct exch_tick {
	struct app *a;
	struct slot *s;
	const struct exch *x;
};

/* After the connection was re-made during the exchange: the request's
 * in-flight entry (sql/014) is put back on this connection (a MariaDB
 * restart emptied the table; a lost connection freed its lock), so the
 * daily limit counts it again and a sweep does not take it for dead. An
 * inline waiter's request is durable in its queue row already. */
static void exchange_rebind(const struct exch *x)
{
	const struct cfg *c = &x->a->cfg;
	struct db_res res;

	if (!x->u->admit_id || x->queue_id)
		return;
	if (DBX(x->a->db, "CALL relay_rebind(?, ?, ?, ?, ?)", &res, DBI(x->u->admit_id),
		DBI(x->u->user_id), DBI(x->u->key_id), DBS(x->u->day),
		DBS(c->lock_prefix))) {
		log_warn("in-flight entry not put back: %s", db_error(x->a->db));
		return;
	}
	db_res_free(&res);
}

/* During the exchange: the slot lives on the database connection; if that
 * connection dies, take the slot again at once, or stop the exchange so
 * no more calls than upstream_slots run. */
static const char *exchange_tick(void *ctx)
{
	struct exch_tick *t = ctx;
	int lost = !lock_held(t->a->db, t->s);

	if (lock_keep(t->a->db, t->s) == RE_OK) {
		if (lost)
			exchange_rebind(t->x);
		return NULL;
	}
	log_error("upstream slot %s lost with the database connection; exchange stopped",
		  t->s->name);
	return "relay lost its upstream slot (database connection lost)";
}

void exchange_forward(const struct exch *x, struct slot *s)
{
	struct exch_tick t = { x->a, s, x };
	struct up_req rq = *x->rq;
	struct exch_dest e;
	struct relay_dest d = { ed_start_plain, ed_write, ed_flush, &e, ed_start };
	struct relay_outcome oc;
	char msg[400], type[64];

	memset(&e, 0, sizeof(e));
	e.x = x;
	buf_init(&e.errbody, 65536);
	rq.tick = exchange_tick;
	rq.tick_ctx = &t;
	relay_exchange(x->a->up, &rq, &d, &oc);
	if (oc.err != RE_OK && oc.err != RE_ECLIENT && !oc.started)
		exchange_fail(x, &oc);
	else if (e.wrap) {
		ed_upstream_error(&e.errbody, msg, sizeof(msg), type, sizeof(type));
		v1err_send(x->r, x->errfmt, e.status, type[0] ? type : NULL, msg,
			   NULL, NULL);
	}
	buf_free(&e.errbody);
	/* The client has its answer: release the slot and meter after. */
	web_finish(x->r);
	exchange_meter(x, oc.status, oc.error[0] ? oc.error : NULL, &oc, s);
	log_info("user=%s route=%s format=%s model=%s stream=%d status=%d tokens=%lld/%lld latency=%ldms%s%s",
		 x->u->name, x->route ? x->route : "call", fmt_name(x->rq->fmt),
		 x->model, x->rq->stream, oc.status, usage_prompt(&oc.usage),
		 usage_completion(&oc.usage), oc.latency_ms,
		 oc.error[0] ? " error=" : "", oc.error);
}
