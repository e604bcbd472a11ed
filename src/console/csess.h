/* csess.h - console sessions, CSRF tokens, the login rate limit and the
 * audit log, all in MariaDB (sql/schema/009_console.sql).
 *
 * A session token is 32 random bytes as 64 hex digits; only its SHA-256 is
 * stored, so the table alone logs nobody in. Each session has its own CSRF
 * token (also 64 hex), compared in constant time. */
#ifndef RELAY_CSESS_H
#define RELAY_CSESS_H

#include "err.h"

struct db;

#define CSESS_TOKEN_LEN 64
#define CSESS_COOKIE "relay_session"
#define CSESS_LOGIN_COOKIE "relay_login"   /* double-submit CSRF of the login form */
/* Failed logins in the last CSESS_FAIL_WINDOW seconds after which more
 * attempts are refused with 429, per name and per client address. */
#define CSESS_FAIL_WINDOW 900
#define CSESS_FAIL_PER_NAME 5
#define CSESS_FAIL_PER_ADDR 20

/* The logged-in user of a request. */
struct csess {
	long long id;         /* console_sessions.id, 0 = not logged in */
	long long user_id;
	char name[65];
	int admin;
	char csrf[CSESS_TOKEN_LEN + 1];
};

/* 32 random bytes as 64 lower-case hex digits + NUL into out. 0 or -1. */
int csess_random_hex(char out[CSESS_TOKEN_LEN + 1]);

/* A new session of user_id valid for `hours`; its token (for the cookie)
 * and CSRF token go to the caller's buffers. addr is the client address
 * (kept for the operator, may be ""). */
enum relay_err csess_create(struct db *db, long long user_id, int hours,
			    const char *addr, char token[CSESS_TOKEN_LEN + 1],
			    char csrf[CSESS_TOKEN_LEN + 1]);

/* Looks a token up: *s filled (s->id != 0) when it names an unexpired
 * session of an enabled user; s->id == 0 otherwise. token may be NULL. */
enum relay_err csess_find(struct db *db, const char *token, struct csess *s);

/* Ends the session of token (logout). */
enum relay_err csess_end(struct db *db, const char *token);

/* 1 if given (may be NULL) equals the session's CSRF token. */
int csess_csrf_ok(const struct csess *s, const char *given);

/* *blocked = 1 when name or addr had too many recent failures. */
enum relay_err csess_login_blocked(struct db *db, const char *name,
				   const char *addr, int *blocked);
/* Records one failed login of name from addr. */
enum relay_err csess_login_failed(struct db *db, const char *name, const char *addr);
/* Forgets the failures of name (after a successful login). */
enum relay_err csess_login_ok(struct db *db, const char *name);

/* Writes one audit row: actor (NULL = anonymous, e.g. registration),
 * action ("key.create"), target ("user:alice"), detail (may be NULL). */
enum relay_err csess_audit(struct db *db, const struct csess *actor,
			   const char *addr, const char *action,
			   const char *target, const char *detail);

#endif
