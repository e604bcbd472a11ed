/* admit.h - call.php's admission in one round trip: key lookup, atomic
 * daily-limit reservation, queue-ahead check and slot lock, done by the
 * relay_admit procedure (sql/routines/relay_admit.sql).
 *
 * The fast path (ADMIT_FAST_SQL, sql/schema/021_fast_path.sql): for a user without a daily
 * request or token limit or a concurrency cap, when nobody waits and the default
 * backend serves the request, a lean statement authenticates and takes a
 * slot, and the request's in-flight entry is its registration with
 * bin/meterd (meterc.h) instead of a MariaDB row. Whenever that path does
 * not apply (or meterd is not there), relay_admit decides as always. */
#ifndef RELAY_ADMIT_H
#define RELAY_ADMIT_H

#include "auth.h"
#include "err.h"
#include "fmt.h"
#include "slot.h"

struct db;
struct cfg;
struct meterc;

enum limit_status {
	LIMIT_OK = 0,         /* one request reserved for today */
	LIMIT_REQUESTS,       /* daily request limit reached */
	LIMIT_TOKENS,         /* daily token limit reached */
	LIMIT_CONCURRENT      /* the user's max_concurrent requests in flight
				 (nothing reserved) */
};

struct admit {
	enum auth_status auth;      /* AUTH_OK or why not */
	struct auth_user u;         /* valid when auth == AUTH_OK */
	enum limit_status limit;    /* valid when auth == AUTH_OK */
	long long requests_used;    /* today's counters after the reservation
					   (also when admitted) */
	long long tokens_used;
	enum slot_outcome slot;     /* valid when limit == LIMIT_OK */
	struct slot s;              /* held when slot == SLOT_GOT */
};

/* What is admitted. */
struct admit_in {
	const char *key;         /* the API key given, may be NULL */
	const char *today;       /* the local day, YYYY-MM-DD */
	enum fmt_kind fmt;       /* picks the backend (relay_take_slot) */
	const char *model;       /* may be NULL */
	const char *route;       /* request_log.route, for the tombstone */
	int stream;
	struct meterc *mc;       /* NULL: no fast path (the request will not
				    be metered through meterd) */
};

/* Runs the admission (the slot is one of a backend that serves the
 * format and model: relay_take_slot). RE_EDB when the database failed
 * (nothing reserved or held then). ad->u.md = 1 when the request's entry is its
 * registration with meterd (the fast path). */
enum relay_err admit_request(struct db *db, const struct cfg *c,
			     const struct admit_in *in, struct admit *ad);

/* The admission's key and limit steps without reserving anything, for
 * the routes that are free (count_tokens, models: door.h's door_peek):
 * ad->auth, ad->u, today's counters, and ad->limit = LIMIT_REQUESTS or
 * LIMIT_TOKENS when the user has no request left today (the rule
 * relay_admit applies). No slot is taken (ad->slot = SLOT_NONE). RE_EDB
 * when the database failed. */
enum relay_err admit_peek(struct db *db, const char *key, const char *today,
			  struct admit *ad);

#endif
