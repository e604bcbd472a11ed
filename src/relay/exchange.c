/* exchange.c - forward, answer, meter once. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "app.h"
#include "clip.h"
#include "backend.h"
#include "auth.h"
#include "buf.h"
#include "db.h"
#include "exchange.h"
#include "hdrpass.h"
#include "log.h"
#include "meter.h"
#include "meterc.h"
#include "mfront.h"
#include "resp.h"
#include "slot.h"
#include "v1err.h"
#include "web.h"
#include "xroute.h"

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

/* exchange_meter with the serving backend (JSON text, may be NULL). */
static void exchange_meter_b(const struct exch *x, int status, const char *error,
			     const struct relay_outcome *oc, struct slot *s,
			     const char *backend)
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
	m.backend = backend;
	m.admit_id = x->u->admit_id;
	m.token_limited = x->u->daily_tokens > 0;
	if (oc) {
		m.usage = oc->usage;
		m.latency_ms = oc->latency_ms;
	}
	/* A slot lost with its connection is not ours to release. */
	if (meter_finish(&x->a->mf, x->a->db, &m,
			 s && lock_held(x->a->db, s) ? s->name : NULL))
		log_error("metering failed for user %s: %s", x->u->name,
			  db_error(x->a->db));
	if (s)
		s->held = 0;   /* let go of by the metering (or with the connection) */
}

void exchange_meter(const struct exch *x, int status, const char *error,
		    const struct relay_outcome *oc, struct slot *s)
{
	exchange_meter_b(x, status, error, oc, s, NULL);
}

/* 1 when a try failed because the upstream took too long (up.c's
 * messages for a curl timeout and for a silent stream). */
static int exchange_timed_out(const struct relay_outcome *oc)
{
	return strncmp(oc->error, "upstream timed out", 18) == 0 ||
		strncmp(oc->error, "upstream sent nothing", 21) == 0;
}

/* Answers an exchange that failed before the upstream answered: a 502, or
 * on the SDK routes a 504 gateway_timeout for a timeout (issue 26; the
 * seed's call.php keeps its 502). Returns the status answered. */
static int exchange_fail(const struct exch *x, const struct relay_outcome *oc)
{
	char msg[400];

	if (oc->err == RE_EINVAL) {
		/* a bad header (up.c), or a stream body usage cannot be
		 * asked for (relay.c) */
		int body = strncmp(oc->error, "request body", 12) == 0;

		if (x->v1)
			v1err_send(x->r, x->errfmt, 400, NULL, body ? oc->error :
				   "a request header has an invalid value", NULL, NULL);
		else
			resp_error(x->r, 400, body ? "请求体无法读取用量设置" :
				   "请求头包含非法字符", NULL);
		return oc->status;
	}
	if (x->v1 && exchange_timed_out(oc)) {
		snprintf(msg, sizeof(msg), "upstream timed out: %s", oc->error);
		v1err_send(x->r, x->errfmt, 504, x->errfmt == FMT_ANTHROPIC ? "timeout_error" :
			   "server_error", msg, "gateway_timeout", NULL);
		return 504;
	}
	if (x->v1) {
		snprintf(msg, sizeof(msg), "upstream request failed: %s", oc->error);
		v1err_send(x->r, x->errfmt, 502, "api_error", msg, NULL, NULL);
	} else {
		snprintf(msg, sizeof(msg), "大模型API调用失败: %s", oc->error);
		resp_error(x->r, 502, msg, NULL);
	}
	return oc->status;
}

struct exch_tick {
	struct app *a;
	struct slot *s;
	const struct exch *x;
};

/* After the connection was re-made during the exchange, or meterd went
 * away with the request's registration (the fast path): the request's
 * in-flight entry is put back (relay_rebind) on this connection (a MariaDB
 * restart emptied the table; a lost connection freed its lock), so the
 * daily limit counts it again and a sweep does not take it for dead. An
 * inline waiter's request is durable in its queue row already. */
static void exchange_rebind(const struct exch *x)
{
	const struct cfg *c = &x->a->cfg;
	struct db_res res;

	if (!x->u->admit_id || x->queue_id || meterc_holds(x->a->mf.mc, x->u->admit_id))
		return;   /* none, durable already, or meterd's registration */
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
	int lost;

	/* meterd gone with the request's registration: its entry moves to
	 * MariaDB, so a crash of this process from here still leaves a row */
	if (t->x->u->md && meterc_check(t->a->mf.mc) < 0)
		exchange_rebind(t->x);
	lost = !lock_held(t->a->db, t->s);

	if (lock_keep(t->a->db, t->s) == RE_OK) {
		if (lost)
			exchange_rebind(t->x);
		return NULL;
	}
	log_error("upstream slot %s lost with the database connection; exchange stopped",
		  t->s->name);
	return "relay lost its upstream slot (database connection lost)";
}

/* The format the backends of this exchange speak: the client's, or the
 * other one when the exchange is translated (xroute.h). */
static enum fmt_kind exchange_up_fmt(const struct exch *x)
{
	return x->xl && x->xl->on ? x->xl->upstream : x->rq->fmt;
}

/* The tries of one request across backends. */
struct exch_tries {
	unsigned tried[16];
	int n;
	struct json_object *failed;   /* array of the failed tries (owned) */
	double t0;
};

/* A try that the backend got wrong: no answer, or 429 / 5xx. */
static int exchange_bad(const struct relay_outcome *oc)
{
	if (oc->err == RE_EUPSTREAM || oc->err == RE_EBUSY || oc->err == RE_ECONFIG)
		return 1;
	return oc->err == RE_OK && (oc->status == 429 || oc->status >= 500);
}

/* Notes a failed try of backend b in t. */
static void exchange_note_try(struct exch_tries *t, const struct backend *b,
			      const struct relay_outcome *oc)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(b->id));
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "status", json_object_new_int(oc->status ? oc->status : 502));
	json_object_object_add(o, "ms", json_object_new_int64(oc->latency_ms < 0 ? 0 : oc->latency_ms));
	json_object_object_add(o, "error", json_object_new_string(oc->error[0] ? oc->error :
								  "upstream error"));
	json_object_array_add(t->failed, o);
}

/* Lets go of the failed try's slot and takes one of another backend that
 * serves the request (relay_failover): 1 with s holding it, 0 when
 * none is free (s not held then). */
static int exchange_failover(const struct exch *x, struct exch_tries *t, struct slot *s)
{
	const struct cfg *c = &x->a->cfg;
	char ex[200];
	struct db_res res;
	const char *model = x->model ? x->model : "";
	size_t len = 0;
	int i, got = 0;

	ex[len++] = ',';
	ex[len] = '\0';
	for (i = 0; i < t->n && len + 12 < sizeof(ex); i++)
		len += (size_t)snprintf(ex + len, sizeof(ex) - len, "%u,", t->tried[i]);
	if (DBX(x->a->db, "CALL relay_failover(?, ?, ?, ?, ?, ?, ?, ?, ?)", &res,
		DBS(s->held && lock_held(x->a->db, s) ? s->name : NULL),
		DBS(c->lock_prefix), DBI(c->upstream_slots),
		DBI(slot_first(c->upstream_slots)), DBI(backend_dflt_mask(c)),
		DBS(fmt_name(exchange_up_fmt(x))), DBB(model, clip_utf8(model, 255)), DBS(ex),
		DBI(c->queue_wait_max))) {
		s->held = 0;
		return 0;
	}
	s->held = 0;
	if (db_res_str(&res, 0, 0)) {
		snprintf(s->name, sizeof(s->name), "%s", db_res_str(&res, 0, 0));
		s->held = 1;
		s->gen = db_generation(x->a->db);
		got = 1;
	}
	db_res_free(&res);
	return got;
}

/* exchange_failover, and when every other backend is busy, looks again
 * every 200 ms for a while (the request was admitted and had its turn; its
 * own slot is already given back): at most queue_wait_max, 30 s, or until
 * the client leaves. */
static int exchange_next_slot(const struct exch *x, struct exch_tries *t, struct slot *s)
{
	int waited = 0, limit = x->a->cfg.queue_wait_max < 30 ? x->a->cfg.queue_wait_max : 30;

	if (exchange_failover(x, t, s))
		return 1;
	while (waited < limit * 5 && !web_gone_now(x->r)) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		waited++;
		if (exchange_failover(x, t, s))
			return 1;
	}
	return 0;
}

/* Answers a try that was refused for a failover when no other backend
 * could take it after all: the status the upstream gave, a clear error. */
static void exchange_fail_busy(const struct exch *x, const struct relay_outcome *oc)
{
	char msg[400];

	if (x->v1) {
		snprintf(msg, sizeof(msg), "upstream request failed on every backend tried: %s",
			 oc->error);
		v1err_send(x->r, x->errfmt, oc->status, oc->status == 429 ?
			   "rate_limit_error" : "api_error", msg, NULL,
			   oc->status == 429 ? "Retry-After: 5\r\n" : NULL);
	} else {
		snprintf(msg, sizeof(msg), "大模型API调用失败: %s", oc->error);
		resp_error(x->r, oc->status, msg, NULL);
	}
}

/* An 'auto' backend's pass-through of /v1/responses (issue 26): a 404 or
 * 405 (it has no such route) is kept from the client, so the same try can
 * go again translated; any other answer passes to the inner destination. */
struct rs_probe {
	const struct relay_dest *inner;
	int missing;
};

static int rp_start(void *ctx, int status, const char *ct, int sse, const char *uph)
{
	struct rs_probe *p = ctx;

	if (status == 404 || status == 405) {
		p->missing = 1;
		return 0;
	}
	return p->inner->start_hdr ? p->inner->start_hdr(p->inner->ctx, status, ct, sse, uph) :
		p->inner->start(p->inner->ctx, status, ct, sse);
}

static int rp_start_plain(void *ctx, int status, const char *ct, int sse)
{
	return rp_start(ctx, status, ct, sse, NULL);
}

static int rp_write(void *ctx, const char *b, size_t n)
{
	struct rs_probe *p = ctx;

	return p->missing ? 0 : p->inner->write(p->inner->ctx, b, n);
}

static int rp_flush(void *ctx)
{
	struct rs_probe *p = ctx;

	return p->missing ? 0 : p->inner->flush(p->inner->ctx);
}

/* One pass of a try on backend b (id): prepares the request for it and
 * runs the exchange into d (through the translator when x->xl is on, or
 * through probe when given). */
static void exchange_pass(const struct exch *x, struct slot *s, struct exch_tries *t,
			  const struct backend *b, unsigned id, const struct relay_dest *d,
			  struct rs_probe *probe, struct relay_outcome *oc)
{
	struct exch_tick tk = { x->a, s, x };
	struct relay_dest pd = { rp_start_plain, rp_write, rp_flush, probe, rp_start };
	const struct relay_dest *dp = d;
	struct backends *bs = &x->a->bk;
	char url[2300];
	struct buf body;
	struct up_req in = *x->rq, rq;
	const char *why = NULL, *path = x->up_path;

	memset(oc, 0, sizeof(*oc));
	if (x->xl && x->xl->on) {
		/* the translated request, for the other format's route path and
		 * (backend 0) URL; mapping then applies to the translated body */
		dp = xroute_wrap(x->xl, &in, d);
		in.url = x->xl->url[0] ? x->xl->url : NULL;
		path = x->xl->up_path;
	} else if (probe) {
		probe->inner = d;
		dp = &pd;
	}
	buf_init(&body, in.body_len + 1024);
	if (!b || backend_prepare(b, &x->a->cfg, &in, path, x->model, url,
				  sizeof(url), &body, &rq, &why)) {
		oc->err = RE_ECONFIG;
		oc->status = 502;
		snprintf(oc->error, sizeof(oc->error), "%s", b ? why : "backend removed");
		goto out;
	}
	rq.tick = exchange_tick;
	rq.tick_ctx = &tk;
	t->tried[t->n < 16 ? t->n : 15] = id;
	rq.refuse_busy = t->n + 1 < x->a->cfg.backend_max_tries && t->n < 15 &&
		backend_others(bs, exchange_up_fmt(x), x->model, t->tried, t->n + 1) > 0;
	relay_exchange(x->a->up, &rq, dp, oc);
	/* while d lives: what the translator still owes a client that got
	 * the start of this try's answer (a try that never started the
	 * client's answer, and may fail over, owes nothing) */
	if (x->xl && x->xl->on)
		xroute_end(x->xl, oc);
out:
	buf_free(&body);
}

/* One try on the backend of slot s. *b is that backend (NULL when it is
 * gone). /v1/responses is translated only on a chat-only backend; on an
 * 'auto' one a 404/405 from its /responses, before anything reached the
 * client, is learned (backend_rs_learn) and the try goes again translated
 * on the same slot: one try, one log row. */
static void exchange_try(const struct exch *x, struct slot *s, struct exch_tries *t,
			 struct exch_dest *e, const struct backend **bp,
			 struct relay_outcome *oc)
{
	struct relay_dest d = { ed_start_plain, ed_write, ed_flush, e, ed_start };
	struct backends *bs = &x->a->bk;
	unsigned id = bmatch_lock_backend(x->a->cfg.lock_prefix, s->name);
	const struct backend *b = backend_lookup(bs, x->a->db, id);
	struct rs_probe probe = { NULL, 0 };
	int learn = 0;

	*bp = b;
	if (x->xl && x->xl->rs) {
		xroute_rs_use(x->xl, backend_rs_translates(b));
		learn = b && b->responses == BACKEND_RS_AUTO;
	}
	exchange_pass(x, s, t, b, id, &d, learn ? &probe : NULL, oc);
	if (!probe.missing)
		return;
	backend_rs_learn(bs, x->a->db, id);
	xroute_rs_use(x->xl, 1);
	exchange_pass(x, s, t, b, id, &d, NULL, oc);
}

/* Binds the Responses API id of a 2xx answer to its member (table
 * response_owner, sql/schema/024_estimates_and_responses.sql), before the client's next turn can name it
 * in previous_response_id. A failed write only costs that member a 404
 * on the follow-up, so it is logged, not fatal. */
static void exchange_own_response(const struct exch *x, const struct relay_outcome *oc)
{
	if (!x->route || strcmp(x->route, "responses") != 0 || !oc->resp_id[0] ||
	    oc->status < 200 || oc->status > 299 || !x->u)
		return;
	if (DBX(x->a->db, "INSERT IGNORE INTO response_owner (response_id, user_id)"
		" VALUES (?, ?)", NULL, DBS(oc->resp_id), DBI(x->u->user_id)))
		log_warn("response id not recorded: its follow-ups will get 404");
}

int exchange_responses_check(const struct exch *x, struct json_object *req,
			     char *why, size_t whylen, const char **code)
{
	struct json_object *v;
	struct db_res res;
	const char *id;
	int own = 0;

	if (json_object_object_get_ex(req, "background", &v) && json_object_get_boolean(v)) {
		snprintf(why, whylen, "background responses are not supported here:"
			 " their usage could not be metered");
		*code = "background_not_supported";
		return 400;
	}
	if (!json_object_object_get_ex(req, "previous_response_id", &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	id = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	if (*id && strlen(id) < 192 &&
	    !DBX(x->a->db, "SELECT 1 FROM response_owner WHERE response_id = ? AND user_id = ?",
		 &res, DBS(id), DBI(x->u->user_id))) {
		own = res.nrows > 0;
		db_res_free(&res);
	}
	if (own)
		return 0;
	/* another member's, unknown, or unreadable: all look the same */
	snprintf(why, whylen, "Previous response with id '%.200s' not found.", id);
	*code = "previous_response_not_found";
	return 404;
}

void exchange_forward(const struct exch *x, struct slot *s)
{
	const struct backend *b = NULL;
	struct exch_dest e;
	struct relay_outcome oc;
	struct exch_tries t;
	char msg[400], type[64], bj[4096];
	int ok;

	memset(&e, 0, sizeof(e));
	memset(&t, 0, sizeof(t));
	t.failed = json_object_new_array();
	e.x = x;
	buf_init(&e.errbody, 65536);
	for (;;) {
		exchange_try(x, s, &t, &e, &b, &oc);
		if (!exchange_bad(&oc) || oc.started || oc.err == RE_ECLIENT)
			break;
		backend_note_fail(x->a->db, &x->a->cfg, &x->a->bk, b ? b->id : 0,
				  oc.status, oc.error, oc.retry_after);
		if (t.n + 1 >= x->a->cfg.backend_max_tries || t.n >= 15 ||
		    backend_others(&x->a->bk, exchange_up_fmt(x), x->model, t.tried, t.n + 1) == 0)
			break;
		if (b)
			exchange_note_try(&t, b, &oc);
		t.n++;
		if (!exchange_next_slot(x, &t, s)) {
			/* this failure is the answer: its try is the log row's own */
			log_warn("failover: no other backend free for model %s", x->model);
			if (b)
				json_object_array_del_idx(t.failed,
							  json_object_array_length(t.failed) - 1, 1);
			t.n--;
			break;
		}
		log_info("failover: try %d on %s after: %s", t.n + 1, s->name, oc.error);
	}
	if (oc.err == RE_EBUSY)
		exchange_fail_busy(x, &oc);
	else if (oc.err != RE_OK && oc.err != RE_ECLIENT && !oc.started)
		oc.status = exchange_fail(x, &oc);
	else if (e.wrap) {
		ed_upstream_error(&e.errbody, msg, sizeof(msg), type, sizeof(type));
		v1err_send(x->r, x->errfmt, e.status, type[0] ? type : NULL, msg,
			   NULL, NULL);
	}
	buf_free(&e.errbody);
	/* The client has its answer: release the slot and meter after. */
	exchange_own_response(x, &oc);
	web_finish(x->r);
	ok = !exchange_bad(&oc);
	if (b)
		backend_log_json(bj, sizeof(bj), b, ok, x->xl && x->xl->on,
				 json_object_array_length(t.failed) ?
				 json_object_to_json_string_ext(t.failed, JSON_C_TO_STRING_PLAIN) :
				 NULL);
	exchange_meter_b(x, oc.status, oc.error[0] ? oc.error : NULL, &oc, s, b ? bj : NULL);
	log_info("user=%s route=%s format=%s%s model=%s stream=%d status=%d tokens=%lld/%lld latency=%ldms backend=%s tries=%d%s%s",
		 x->u->name, x->route ? x->route : "call", fmt_name(x->rq->fmt),
		 x->xl && x->xl->on ? " translated" : "",
		 x->model, x->rq->stream, oc.status, usage_prompt(&oc.usage),
		 usage_completion(&oc.usage), oc.latency_ms, b ? b->name : "-", t.n + 1,
		 oc.error[0] ? " error=" : "", oc.error);
	json_object_put(t.failed);
}
