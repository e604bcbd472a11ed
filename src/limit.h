/* limit.h - daily request/token limits, reserved atomically. */
#ifndef RELAY_LIMIT_H
#define RELAY_LIMIT_H

#include "err.h"

struct db;
struct auth_user;

enum limit_status {
	LIMIT_OK = 0,         /* one request reserved for today */
	LIMIT_REQUESTS,       /* daily request limit reached */
	LIMIT_TOKENS          /* daily token limit reached */
};

struct limit_info {
	long long requests_used;
	long long tokens_used;
};

/* Reserves one request of u's daily allowance for `day` with a single
 * conditional upsert, so concurrent callers can never exceed the limit.
 * On LIMIT_REQUESTS/LIMIT_TOKENS nothing was reserved and *info says how
 * much is used. RE_EDB if the database failed. */
enum relay_err limit_reserve(struct db *db, const struct auth_user *u,
			     const char *day, enum limit_status *st,
			     struct limit_info *info);

#endif
