/* qadmin.h - operator actions on queue items, shared by relayctl
 * (queue cancel/retry) and the console's admin queue page. */
#ifndef RELAY_QADMIN_H
#define RELAY_QADMIN_H

#include "err.h"

struct db;

/* Cancels a waiting item: failed, 'cancelled by administrator'. Only
 * waiting items (a processing one is already upstream); the request stays
 * counted as reserved. *done = 1 if an item was cancelled. */
enum relay_err qadmin_cancel(struct db *db, long long id, int *done);

/* Puts a failed item back to waiting (attempts and busy retries reset). An
 * item that reached the upstream keeps its request_log row, so the retry
 * is a new attempt without a second metering row. *done = 1 if so. */
enum relay_err qadmin_retry(struct db *db, long long id, int *done);

#endif
