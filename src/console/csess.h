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
/* The login rate limit (issue 25.11), over the failures of the last
 * CSESS_FAIL_WINDOW seconds: per (name, client address), after
 * CSESS_FAIL_PER_PAIR failures each further try waits CSESS_FAIL_DELAY
 * seconds after the last one, doubling per failure (at most the window);
 * per address, CSESS_FAIL_PER_ADDR failures refuse every name from it.
 * A name alone is never locked: wrong passwords from one address do not
 * keep its owner out from another. Refused tries answer 429. */
#define CSESS_FAIL_WINDOW 900
#define CSESS_FAIL_PER_PAIR 5
#define CSESS_FAIL_DELAY 30
#define CSESS_FAIL_PER_ADDR 20
/* Self-registrations (each a password hash and a pending account) from
 * one address in the same window, made or refused, before 429. */
#define CSESS_REG_PER_ADDR 5

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

/* A login try of name from addr: *blocked = 1 when the limits refuse it
 * (or the address's lock was not had in 10 s); otherwise the try is
 * recorded as a failure before the password is checked, atomically with
 * the check (GET_LOCK per address), and csess_login_done settles it.
 * prefix: the config's lock_prefix. */
enum relay_err csess_login_try(struct db *db, const char *prefix, const char *name,
			       const char *addr, int *blocked);
/* A self-registration from addr: *blocked = 1 when the address made
 * CSESS_REG_PER_ADDR tries in the window; otherwise this one is counted
 * (atomically with the check, as csess_login_try). */
enum relay_err csess_register_try(struct db *db, const char *prefix,
				  const char *addr, int *blocked);
/* Settles an allowed try: failed = 1 (a wrong password) keeps it as a
 * failure; 0 (the password was right) forgets the pair's failures and
 * this try's count on the address. */
enum relay_err csess_login_done(struct db *db, const char *name, const char *addr,
				int failed);

/* Writes one audit row: actor (NULL = anonymous, e.g. registration),
 * action ("key.create"), target ("user:alice"), detail (may be NULL). */
enum relay_err csess_audit(struct db *db, const struct csess *actor,
			   const char *addr, const char *action,
			   const char *target, const char *detail);

#endif
