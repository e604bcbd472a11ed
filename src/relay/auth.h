/* auth.h - API key authentication (SHA-256 lookup, constant-time compare). */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include "err.h"

struct db;

/* The authenticated caller. */
struct auth_user {
	long long user_id;
	long long key_id;
	char name[65];
	long long daily_requests;   /* 0 = unlimited */
	long long daily_tokens;     /* 0 = unlimited */
	int priority;
	/* Model allow-list: what both api_keys.models and users.models
	 * allow (a NULL list allows every model), comma-separated; "" with models_set = 0 means every model. A longer list
	 * than fits is refused as a whole (models_set = 1, models = ""),
	 * never cut into a different list. */
	char models[1024];
	int models_set;
	/* The local day this request was admitted on (relay_admit reserved
	 * its request there): its tokens and errors count on it too. */
	char day[11];
	/* The admission's id (relay_admit: its in-flight entry, then the
	 * request_log / queue row that makes it durable); 0 = none (a queue
	 * worker's item, whose request is already durable in its queue row). */
	long long admit_id;
	/* 1: the in-flight entry is the request's registration with
	 * bin/meterd (the fast path, meterc.h), not a row of `inflight` */
	int md;
};

/* Copies an allow-list cell (NULL = every model) into u. */
void auth_set_models(struct auth_user *u, const char *cell, unsigned long len);

/* The key's list (kcell) met with its user's (ucell) into u: a key's list
 * can only narrow its user's, so narrowing the user later narrows every
 * key at once. Either cell NULL: the other one as it is. */
void auth_set_models2(struct auth_user *u, const char *kcell, unsigned long klen,
		      const char *ucell, unsigned long ulen);

enum auth_status {
	AUTH_OK = 0,
	AUTH_MISSING,     /* no key given */
	AUTH_INVALID,     /* unknown or revoked */
	AUTH_EXPIRED,
	AUTH_DISABLED     /* the user is disabled */
};

struct db_res;

/* The one decoder of a key row, shared by auth_check and relay_admit's
 * answer (admit.c). Columns 0..9: key id, key hash, revoked, expired,
 * user id, name, enabled, daily_requests, daily_tokens, priority; the
 * key's allow-list at `models_col`, its user's at `umodels_col`. `hex` is the hash looked up; the stored hash
 * is compared in constant time. Fills *u (with `today` as its day) when
 * the answer is AUTH_OK. */
enum auth_status auth_decode(const struct db_res *res, unsigned models_col,
			     unsigned umodels_col, const char *hex, const char *today,
			     struct auth_user *u);

/* Longest key accepted; longer input is rejected without hashing. */
#define AUTH_KEY_MAX 256

/* Looks up `key` (may be NULL). Returns RE_OK with *st set (and *u filled on
 * AUTH_OK), or RE_EDB when the database failed. `today` is YYYY-MM-DD. */
enum relay_err auth_check(struct db *db, const char *key, const char *today,
			  struct auth_user *u, enum auth_status *st);

/* The 401 message for a status. */
const char *auth_message(enum auth_status st);

#endif
