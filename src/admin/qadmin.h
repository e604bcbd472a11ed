/* qadmin.h - operator actions on queue items, shared by relayctl
 * (queue cancel/retry) and the console's admin queue page. */
#ifndef RELAY_QADMIN_H
#define RELAY_QADMIN_H

#include "err.h"

struct db;

/* Cancels a waiting item: failed, 'cancelled by administrator', HTTP 503.
 * Only waiting items (a processing one is already upstream); the request
 * stays counted as reserved and gets its one request_log row as an error
 * (an inline waiter writes it itself). *done = 1 if an item was cancelled. */
enum relay_err qadmin_cancel(struct db *db, long long id, int *done);

/* A member's cancel of their own waiting item (the console): as
 * qadmin_cancel, 'cancelled by its member'; *done = 0 when the item is
 * not waiting or belongs to someone else (the caller cannot tell which,
 * so another member's ids stay unseen). */
enum relay_err qadmin_cancel_own(struct db *db, long long id, long long user_id,
				 int *done);

/* Cancels every waiting item of a user about to be deleted ('user
 * deleted'), each logged as above; *n = how many. */
enum relay_err qadmin_cancel_user(struct db *db, long long user_id, int *n);

/* Puts a failed item back to waiting (attempts and busy retries reset). An
 * item that reached the upstream keeps its request_log row, so the retry
 * is a new attempt without a second metering row. *done = 1 if so. */
enum relay_err qadmin_retry(struct db *db, long long id, int *done);

#endif
