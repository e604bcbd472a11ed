/* useradmin.h - the changes to a user and its keys that relayctl and the
 * console both make, written once: one UPDATE of a user's settings, one
 * revocation of a key. The callers check their own arguments, say it
 * their own way and write the audit row (audit.h). */
#ifndef RELAY_USERADMIN_H
#define RELAY_USERADMIN_H
#include <stddef.h>
#include "err.h"

struct db;

/* What to change; has_* = given, the rest kept. */
struct user_change {
	int has_requests, has_tokens, has_priority, has_max_conc, has_max_queued;
	long long requests, tokens, priority, max_conc, max_queued;
	int has_models;
	const char *models;         /* "" or NULL = every model */
	int enabled;                /* -1 keep, 0 or 1 */
	int admin;                  /* -1 keep, 0 or 1 */
	int approve;                /* 1: no longer pending, and enabled
				       unless `enabled` says otherwise */
	const char *password_hash;  /* NULL keep */
	const char *email;          /* NULL keep, "" none, else normalised
				       (useradmin_email_norm) */
};

/* A user_change that keeps everything. */
void useradmin_init(struct user_change *c);

/* Applies c to user id. *found = 0 when no such user (may be NULL). */
enum relay_err useradmin_update(struct db *db, long long id,
				const struct user_change *c, int *found);

/* The e-mail address in as stored: lower-cased, 3..254 bytes, one '@'
 * with something before and a dot-less-or-not domain after, no spaces or
 * control characters. 0, or -1 when it is not an address. */
int useradmin_email_norm(const char *in, char *out, size_t outlen);

/* Deletes user id: its waiting requests fail with a reason first (each
 * with its request_log row), keys and usage go with it (ON DELETE
 * CASCADE), the request log stays for accounting. *cancelled = how many
 * queued requests failed, *found = 0 when no such user (both may be NULL). */
enum relay_err useradmin_delete(struct db *db, long long id, int *cancelled, int *found);

/* Revokes key key_id if it is not revoked yet; *changed = 1 when this
 * call revoked it (may be NULL). A revoked key is refused at its next
 * admission; what it already queued is refused when claimed. */
enum relay_err apikey_revoke(struct db *db, long long key_id, int *changed);
#endif
