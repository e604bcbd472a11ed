/* door.c - the one admission pipeline (see door.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "auth.h"
#include "backend.h"
#include "db.h"
#include "dispatch.h"
#include "allow.h"
#include "door.h"
#include "log.h"
#include "models.h"
#include "queue.h"
#include "resp.h"
#include "route.h"
#include "web.h"
#include "xroute.h"

/* The log row's reason for each metered refusal: the pipeline's, so a
 * refusal reads the same whichever door answered it. */
static const char *const door_reason[DOOR_NOUTCOMES] = {
	[DOOR_MODEL_NOT_ALLOWED] = "model not allowed",
	[DOOR_UNTRANSLATABLE] = "request cannot be translated",
	[DOOR_TRANSLATE_FAILED] = "request translation failed",
	[DOOR_NOT_FOUND] = "not found",
	[DOOR_NOT_SERVED] = "model not served by any backend",
	[DOOR_NO_ENDPOINT] = "endpoint not configured",
	[DOOR_QUEUE_FULL] = "queue full",
	[DOOR_USER_QUEUE_FULL] = "user queue limit",
	[DOOR_WAIT_TIMEOUT] = "queue wait timeout",
	[DOOR_GONE] = "client disconnected while queued",
	[DOOR_CANCELLED] = "cancelled by administrator",
	[DOOR_WAIT_TOKENS] = "daily token limit reached while queued",
	[DOOR_QUEUE_EDB] = "database error while queued",
};

void door_init(struct door_req *d, struct app *a, struct web_req *r,
	       const struct door_ops *ops, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->a = a;
	d->r = r;
	d->ops = ops;
	d->ctx = ctx;
	d->x.rq = &d->rq;
}

int door_model_ok(const struct auth_user *u, const char *model)
{
	return allow_model(u->models, u->models_set, model);
}

/* The format of the backends this request waits for: the upstream's when
 * the exchange is translated (as exchange.c forwards it). */
static enum fmt_kind door_up_fmt(const struct door_req *d)
{
	return d->x.xl && d->x.xl->on ? d->x.xl->upstream : d->rq.fmt;
}

/* Answers a refusal of a reserved request, lets the client go, then logs
 * it once and gives back the slot the admission may hold. */
static void door_refuse(struct door_req *d, enum door_outcome o, const char *reason)
{
	int status = d->ops->answer(d, o);

	web_finish(d->r);
	exchange_meter(&d->x, status, reason ? reason : door_reason[o], NULL, &d->ad.s);
}

/* The headers a queued item needs upstream, as a JSON object text. The
 * caller owns the result (json_object_put on *holder). */
static const char *door_headers_json(const struct up_req *rq, struct json_object **holder)
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

/* Busy upstream, no wait asked for: the request becomes a polled item
 * (202 with its id) that a queue worker forwards and meters. */
static void door_enqueue(struct door_req *d)
{
	struct app *a = d->a;
	struct json_object *hold = NULL;
	struct queue_new n;
	enum queue_refusal why;
	enum relay_err rc;

	memset(&n, 0, sizeof(n));
	n.u = &d->ad.u;
	n.fmt = d->rq.fmt;
	n.model = d->in.model;
	n.stream = d->rq.stream;
	n.route = d->x.route;
	n.headers_json = door_headers_json(&d->rq, &hold);
	n.body = d->rq.body;
	n.body_len = d->rq.body_len;
	rc = queue_push(a->db, &a->cfg, &n, &d->queue_id, &why);
	json_object_put(hold);
	if (rc == RE_EBUSY || (!rc && why == QUEUE_FULL))
		door_refuse(d, DOOR_QUEUE_FULL, NULL);
	else if (!rc && why == QUEUE_USER_FULL)
		door_refuse(d, DOOR_USER_QUEUE_FULL, NULL);
	else if (rc)
		/* The request was reserved: give it its log row. If the insert
		 * was lost after the server ran it (db_unknown), the item also
		 * runs and gets a row of its own; the client, told 500, has
		 * no id for it. */
		door_refuse(d, DOOR_QUEUE_EDB, db_unknown(a->db) ?
			    "database connection lost while queueing (item may exist)" :
			    "database error while queueing");
	else {
		/* A slot may have freed since the admission looked: let a
		 * worker know at once instead of at the end of its nap. */
		dispatch_wake(a->db, &a->cfg);
		log_info("queued as %lld (user %s, priority %d)", d->queue_id,
			 d->ad.u.name, d->ad.u.priority);
		d->ops->answer(d, DOOR_QUEUED);
	}
}

/* dispatch_tick_fn: a streaming waiter's event stream opens with the
 * first tick and gets a comment line each time, so that neither the
 * client nor a proxy times out; others are only watched. */
static int door_tick(void *ctx, long long position)
{
	struct door_req *d = ctx;
	char line[64];
	int n;

	if (!d->rq.stream)
		return web_gone_now(d->r);
	if (!d->r->headers_sent &&
	    resp_start(d->r, 200, "text/event-stream",
		       "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n") < 0)
		return 1;
	n = snprintf(line, sizeof(line), ": queued, position %lld\n\n", position);
	if (n < 0 || (size_t)n >= sizeof(line))
		return 0;
	return web_write(d->r, line, (size_t)n) || web_flush(d->r);
}

/* Busy upstream, a wait asked for: waits in line on this connection
 * (dispatch.h), then forwards; or answers why not. */
static void door_wait(struct door_req *d)
{
	struct dispatch_req q = { &d->ad.u, door_up_fmt(d), d->in.model, d->rq.stream,
				  d->x.route };
	enum dispatch_result dr;
	enum door_outcome o;

	dr = dispatch_wait(d->a, d->r, &q, d->wait_s, door_tick, d, &d->ad.s,
			   &d->x.queue_id);
	switch (dr) {
	case DISPATCH_GOT:
		/* the waiter's turn: where a re-check of key, user and limits
		 * at claim time (issue 25 points 5-6) goes, for every door */
		exchange_forward(&d->x, &d->ad.s);
		return;
	case DISPATCH_FULL:       o = DOOR_QUEUE_FULL; break;
	case DISPATCH_USER_FULL:  o = DOOR_USER_QUEUE_FULL; break;
	case DISPATCH_TIMEOUT:    o = DOOR_WAIT_TIMEOUT; break;
	case DISPATCH_GONE:       o = DOOR_GONE; break;
	case DISPATCH_CANCELLED:  o = DOOR_CANCELLED; break;
	case DISPATCH_TOKENS:     o = DOOR_WAIT_TOKENS; break;
	default:                  o = DOOR_QUEUE_EDB; break;
	}
	/* the queue row is closed already: no slot is held */
	door_refuse(d, o, NULL);
}

/* The outcome of an admission that reserved nothing, or DOOR_OK. */
static enum door_outcome door_unreserved(const struct admit *ad)
{
	if (ad->auth != AUTH_OK)
		return DOOR_AUTH;
	switch (ad->limit) {
	case LIMIT_OK:         return DOOR_OK;
	case LIMIT_CONCURRENT: return DOOR_CONCURRENT;
	case LIMIT_REQUESTS:   return DOOR_DAILY_REQUESTS;
	default:               return DOOR_DAILY_TOKENS;
	}
}

/* The admitted request's steps up to the slot: the door's check, the
 * allow-list, the door's preparation, a backend that serves it. */
static enum door_outcome door_steps(struct door_req *d)
{
	enum door_outcome o = d->ops->check ? d->ops->check(d) : DOOR_OK;

	if (o)
		return o;
	if (!door_model_ok(&d->ad.u, d->in.model))
		return DOOR_MODEL_NOT_ALLOWED;
	if (d->ops->prepare && (o = d->ops->prepare(d)) != DOOR_OK)
		return o;
	if (d->ad.slot != SLOT_NONE)
		return DOOR_OK;
	/* no slot can ever serve it: a model no backend takes, or the
	 * format's endpoint is not configured */
	if (!backends_sync(&d->a->bk, d->a->db, 0) &&
	    backend_others(&d->a->bk, d->rq.fmt, NULL, NULL, 0) > 0)
		return DOOR_NOT_SERVED;
	return DOOR_NO_ENDPOINT;
}

void door_run(struct door_req *d)
{
	struct app *a = d->a;
	enum door_outcome o;

	db_today(d->today);
	if (!d->in.key)   /* a door may bring the key (a proxy URL's) */
		d->in.key = route_api_key(d->r);
	d->in.today = d->today;
	d->in.mc = app_meterc(a);
	if (admit_request(a->db, &a->cfg, &d->in, &d->ad)) {
		d->ops->answer(d, DOOR_EDB);
		return;
	}
	if ((o = door_unreserved(&d->ad)) != DOOR_OK) {
		d->ops->answer(d, o);
		return;
	}
	/* the request is reserved from here on: every refusal is logged */
	d->x.a = a;
	d->x.r = d->r;
	d->x.u = &d->ad.u;
	d->x.rq = &d->rq;
	d->x.model = d->in.model;
	if ((o = door_steps(d)) != DOOR_OK) {
		door_refuse(d, o, o == DOOR_INVALID || o == DOOR_NOT_FOUND ? d->why : NULL);
		return;
	}
	if (d->ad.slot == SLOT_GOT)
		exchange_forward(&d->x, &d->ad.s);
	else if (d->wait_s > 0)
		door_wait(d);
	else
		door_enqueue(d);
}

enum door_outcome door_peek(struct door_req *d, int limits)
{
	enum door_outcome o;

	db_today(d->today);
	if (admit_peek(d->a->db, d->in.key ? d->in.key : route_api_key(d->r), d->today,
		       &d->ad)) {
		d->ops->answer(d, DOOR_EDB);
		return DOOR_EDB;
	}
	if (!limits && d->ad.auth == AUTH_OK)
		d->ad.limit = LIMIT_OK;
	o = door_unreserved(&d->ad);
	if (o == DOOR_OK && d->in.model && !door_model_ok(&d->ad.u, d->in.model))
		o = DOOR_MODEL_NOT_ALLOWED;
	if (o != DOOR_OK)
		d->ops->answer(d, o);
	return o;
}

/* A row per user in the MEMORY table door_budget (sql/schema/023_door_budget.sql): the second it
 * counts (the database's clock, the same for every web host) and how many
 * were let through in it. The upsert changes the row only while under the
 * budget, so the affected-row count is the answer: 1 (first row) or 2
 * (counted) yes, 0 (left as it was: the budget is spent) no. One
 * statement, so concurrent requests of one user never overshoot. */
int door_budget(struct app *a, long long user_id, int per_second)
{
	if (per_second <= 0)
		return 0;
	if (DBX(a->db, "INSERT INTO door_budget (user_id, sec, n)"
		" VALUES (?, UNIX_TIMESTAMP(), 1) ON DUPLICATE KEY UPDATE"
		" n = IF(sec = VALUES(sec), IF(n < ?, n + 1, n), 1), sec = VALUES(sec)",
		NULL, DBI(user_id), DBI(per_second))) {
		log_warn("count_tokens budget: %s", db_error(a->db));
		return 0;
	}
	return db_affected(a->db) > 0;
}
