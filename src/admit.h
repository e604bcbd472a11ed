/* admit.h - call.php's admission in one round trip: key lookup, atomic
 * daily-limit reservation, queue-ahead check and slot lock, done by the
 * relay_admit procedure (sql/003). */
#ifndef RELAY_ADMIT_H
#define RELAY_ADMIT_H

#include "auth.h"
#include "err.h"
#include "fmt.h"
#include "slot.h"

struct db;
struct cfg;

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
					   (sql/008: also when admitted) */
	long long tokens_used;
	enum slot_outcome slot;     /* valid when limit == LIMIT_OK */
	struct slot s;              /* held when slot == SLOT_GOT */
};

/* Runs the admission for `key` (may be NULL) on the local day `today`,
 * for a request of format f and model (the slot is one of a backend that
 * serves them, sql/013). RE_EDB when the database failed (nothing reserved
 * or held then). */
enum relay_err admit_request(struct db *db, const struct cfg *c,
			     const char *key, const char *today, enum fmt_kind f,
			     const char *model, struct admit *ad);

#endif
