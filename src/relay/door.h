/* door.h - the one admission pipeline of every door (issue 24 point 2):
 * call.php, the SDK routes under /v1, and whatever door comes next.
 *
 *   authenticate, limits, caps, slot   admit_request (one round trip)
 *   validate                           the door's own check (ops->check)
 *   allow-list                         allow_model, here, for every door
 *   prepare                            the door's exchange (translation)
 *   slot, or queue, or wait            SLOT_NONE / GOT / BUSY
 *   forward, meter                     exchange_forward, exchange_meter
 *
 * The allow-list needs the key's row, which the admission reads in its one
 * round trip: it is checked on the admission's answer, before the slot is
 * used or anything is queued, so a refused model is a logged 403 on every
 * door (it counts as the day's request, as on /v1 since issue 11).
 *
 * A door reads its request format into a door_req and supplies a table of
 * answers (door_ops): how each outcome is said to its client (status,
 * body in the seed's or OpenAI's/Anthropic's shape, headers). The steps
 * and the metering are the pipeline's, so no door can skip one: the model
 * allow-list went missing on call.php when each door had its own copy
 * (issue 25 point 1).
 *
 * Metering rule, the same on every door: an outcome before the admission
 * reserved anything (a bad key, a daily limit, the user's cap) is answered
 * and not logged; every later refusal is answered, then logged once as an
 * error with the pipeline's reason text, and the slot the admission may
 * have taken is given back in the same round trip.
 *
 * Free routes (count_tokens, models: no reservation, no slot) run
 * door_peek: the same key, limit and allow-list steps and the same
 * answers, nothing reserved or logged.
 *
 * The queue worker forwards polled items whose admission ran here when
 * they were queued; re-checks at claim time (issue 25 points 5-7) belong
 * to the worker's claim and can reuse door_model_ok and the admission's
 * SQL. */
#ifndef RELAY_DOOR_H
#define RELAY_DOOR_H

#include "admit.h"
#include "buf.h"
#include "exchange.h"

struct app;
struct web_req;

enum door_outcome {
	DOOR_OK = 0,
	/* nothing reserved: answered, not logged */
	DOOR_EDB,               /* the admission's database failed: 500 */
	DOOR_AUTH,              /* d->ad.auth says why: 401 */
	DOOR_CONCURRENT,        /* the user's max_concurrent: 429 */
	DOOR_DAILY_REQUESTS,    /* 429, d->ad has the counters */
	DOOR_DAILY_TOKENS,      /* 429 */
	/* reserved: answered, then logged once */
	DOOR_INVALID,           /* the door's own check failed: 400, d->why */
	DOOR_MODEL_NOT_ALLOWED, /* 403 */
	DOOR_UNTRANSLATABLE,    /* 400, d->why */
	DOOR_TRANSLATE_FAILED,  /* 500, d->why */
	DOOR_NOT_FOUND,         /* the door's check: 404, d->why, d->code */
	DOOR_NOT_SERVED,        /* no backend serves the model */
	DOOR_NO_ENDPOINT,       /* the format's URL is not configured: 500 */
	DOOR_QUEUE_FULL,        /* queue_max reached: 503 */
	DOOR_USER_QUEUE_FULL,   /* the user's max_queued: 429 */
	DOOR_WAIT_TIMEOUT,      /* queue_wait_max passed: 503 */
	DOOR_GONE,              /* the client left while waiting: 499, no answer */
	DOOR_CANCELLED,         /* an operator cancelled the wait, or the
				   key or user was stopped meanwhile: 503 */
	DOOR_WAIT_TOKENS,       /* at its turn the user's daily token
				   limit was reached: 429 */
	DOOR_QUEUE_EDB,         /* the database failed while queueing/waiting */
	DOOR_QUEUED,            /* a polled item, d->queue_id: 202, its worker
				   meters it */
	DOOR_NOUTCOMES
};

struct door_req;

/* A door's table of answers and its two optional steps. */
struct door_ops {
	/* Answers outcome o to the client in the door's format; returns the
	 * HTTP status answered (the log row's). Never meters. */
	int (*answer)(struct door_req *d, enum door_outcome o);
	/* The door's own check of an admitted request (call.php's
	 * X-API-Format), before the allow-list: DOOR_OK or DOOR_INVALID. */
	enum door_outcome (*check)(struct door_req *d);
	/* After the allow-list: the door's part of the exchange (the SDK
	 * routes' upstream URL, translation, allowance headers, a Responses
	 * id's owner): DOOR_OK, DOOR_INVALID / DOOR_NOT_FOUND, or
	 * DOOR_UNTRANSLATABLE / DOOR_TRANSLATE_FAILED. */
	enum door_outcome (*prepare)(struct door_req *d);
};

/* One request through the pipeline; lives in the door's frame. The door
 * fills the fields marked (door) before door_run; the rest is the
 * pipeline's. */
struct door_req {
	struct app *a;                  /* (door) */
	struct web_req *r;              /* (door) */
	const struct door_ops *ops;     /* (door) */
	void *ctx;                      /* (door) its own state */
	struct admit_in in;             /* (door) fmt, model, route, stream;
					   key, today and mc are filled here */
	struct up_req rq;               /* (door) the request to forward */
	struct exch x;                  /* (door) route, up_path, v1, errfmt;
					   a, r, u, rq, model are filled here */
	int wait_s;                     /* (door) busy: > 0 wait inline that
					   long, 0 queue as a polled item */
	struct admit ad;
	char today[11];
	const char *why;                /* DOOR_INVALID, DOOR_NOT_FOUND and
					   the translation refusals: what the
					   door says */
	const char *code;               /* and its error code, or NULL */
	long long queue_id;             /* DOOR_QUEUED */
};

/* Zeroes d and sets its door fields' common part. */
void door_init(struct door_req *d, struct app *a, struct web_req *r,
	       const struct door_ops *ops, void *ctx);

/* Runs the pipeline: the request ends answered, forwarded or queued, and
 * metered as the rule above says. */
void door_run(struct door_req *d);

/* The key, limit and allow-list steps for a free route, nothing reserved:
 * DOOR_OK (d->ad.u is the caller), or the outcome it answered (not
 * logged). limits = 0 checks only the key (GET /v1/models). d->in.model
 * may be NULL (no model to check). */
enum door_outcome door_peek(struct door_req *d, int limits);

/* 1 when user u may use model (the allow-list step). */
int door_model_ok(const struct auth_user *u, const char *model);

/* One more forwarded count_tokens for user_id within the per-second
 * budget (count_tokens_forward): 1 yes, 0 over it (or the budget is 0, or
 * the database failed: answered locally then). */
int door_budget(struct app *a, long long user_id, int per_second);

#endif
