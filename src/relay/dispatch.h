/* dispatch.h - waiting for an upstream slot on the client's own connection
 * (issue 10), in the queue's one order: priority DESC, then arrival, shared
 * with the polled (202) items that the queue workers run.
 *
 * A waiter gets a row in `queue` (inline_wait = 1, counted against
 * queue_max and shown by relayctl and status.php) and blocks in MariaDB
 * until a slot is free and it is first in line; a slot holder that finishes
 * wakes the next one. The waiter's process holds the item lock
 * '<prefix>:item:<id>' while it waits, so a waiter killed with -9 is seen as
 * dead by the next dispatcher. */
#ifndef RELAY_DISPATCH_H
#define RELAY_DISPATCH_H

#include "err.h"
#include "fmt.h"
#include "slot.h"

struct app;
struct web_req;
struct auth_user;
struct db;
struct cfg;

/* What waits. All pointers must outlive dispatch_wait(). */
struct dispatch_req {
	const struct auth_user *u;
	enum fmt_kind fmt;
	const char *model;
	int stream;
	const char *route;        /* "call", "chat", "messages", ... */
};

/* Called while waiting, first after about DISPATCH_FIRST_TICK seconds and
 * then at least every DISPATCH_TICK seconds, with the 1-based position in
 * line. A streaming route sends its SSE headers and a comment line here
 * (": queued, position N"); a non-zero return means the client is gone. */
typedef int (*dispatch_tick_fn)(void *ctx, long long position);

#define DISPATCH_FIRST_TICK 3
#define DISPATCH_TICK 15

enum dispatch_result {
	DISPATCH_GOT = 0,     /* *s is held: forward now, then meter with
				 meter_rec.queue_id = *id (relay_finish closes
				 the row and wakes the next waiter) */
	DISPATCH_FULL,        /* queue_max reached: 503, retryable */
	DISPATCH_USER_FULL,   /* the user's own max_queued / max_concurrent */
	DISPATCH_TIMEOUT,     /* queue_wait_max passed before a slot freed */
	DISPATCH_GONE,        /* the client went away while waiting */
	DISPATCH_CANCELLED,   /* an operator cancelled it (relayctl), or at
				 its turn its key was revoked or its user
				 disabled (relay_verdict) */
	DISPATCH_TOKENS,      /* at its turn, the user's daily token limit
				 was reached (relay_verdict): 429 */
	DISPATCH_EDB          /* the database failed */
};

/* Waits for a slot for an admitted request (its daily request already
 * reserved). max_wait_s = queue_wait_max. *id is the queue row's id (0 if
 * none was made). For every result but DISPATCH_GOT the caller answers the
 * client in its route's format and meters the request once as an error
 * with meter_rec.queue_id = *id; the row is already closed then. */
enum dispatch_result dispatch_wait(struct app *a, struct web_req *r,
				   const struct dispatch_req *q, int max_wait_s,
				   dispatch_tick_fn tick, void *tick_ctx,
				   struct slot *s, long long *id);

/* Wakes whoever is first in line if a slot is free (after a 202 enqueue,
 * a cancel, or anything else that may let the line move). */
enum relay_err dispatch_wake(struct db *db, const struct cfg *c);

/* A queue worker's nap of ms milliseconds between two relay_wait steps
 * (relay_wait); a waker's KILL QUERY ID ends it early. */
void dispatch_nap_blocking(struct db *db, long long ms);

#endif
