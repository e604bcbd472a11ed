/* queue.h - the MariaDB request queue (SPEC §4).
 *
 * Order: priority DESC, id ASC. An item is claimed atomically
 * (SELECT ... FOR UPDATE SKIP LOCKED) and, while processed, its worker holds
 * the named lock '<prefix>:item:<id>'; a `processing` item whose lock is
 * free has lost its worker and is recovered. Completion and metering commit
 * in one transaction, guarded by the claim's attempt number, so an item is
 * completed and metered at most once. */
#ifndef RELAY_QUEUE_H
#define RELAY_QUEUE_H

#include <stddef.h>
#include "err.h"
#include "fmt.h"

struct db;
struct cfg;
struct auth_user;
struct relay_outcome;

/* Attempts after which an item whose worker keeps dying is failed. */
#define QUEUE_MAX_ATTEMPTS 3
/* Busy answers (429/503) of the upstream after which an item's refusal is
 * stored as its result instead of being retried. */
#define QUEUE_BUSY_RETRIES 5
/* Longest wait before retrying a busy answer, in seconds. */
#define QUEUE_BUSY_MAX_DELAY 300

/* A new queue row: a polled item (body stored, run by a worker) or an
 * inline waiter (waitlock set, body NULL: its client process forwards it). */
struct queue_new {
	const struct auth_user *u;
	enum fmt_kind fmt;
	const char *model;
	int stream;
	const char *route;          /* NULL = "call" */
	const char *headers_json;   /* headers needed upstream, may be NULL */
	const char *body;
	size_t body_len;
	const char *waitlock;       /* inline: the waiter's liveness lock */
};

enum queue_refusal {
	QUEUE_OK = 0,
	QUEUE_FULL,                 /* queue_max items wait */
	QUEUE_USER_FULL             /* the user's max_queued items wait */
};

/* Inserts a waiting item unless queue_max items (or the user's max_queued)
 * already wait; the counts and the insert are serialised by a named lock
 * (relay_enqueue) so concurrent callers never overshoot. An
 * inline waiter's liveness lock is taken first. *id = new id, or 0 with
 * *refused set. RE_EBUSY when the enqueue lock was not had in 10 s. */
enum relay_err queue_push(struct db *db, const struct cfg *c,
			  const struct queue_new *q, long long *id,
			  enum queue_refusal *refused);

/* 1-based place of a waiting item among waiting items in processing order,
 * and how many wait in total. */
enum relay_err queue_position(struct db *db, long long id, int priority,
			      long long *pos, long long *total);

/* 1 if any polled item (one a worker runs) waits and is due (not held
 * back by a busy retry). */
enum relay_err queue_waiting(struct db *db, int *yes);

/* A claimed item; the struct owns headers and body (queue_item_free). */
struct queue_item {
	long long id, user_id, key_id;
	int priority, stream, attempts;
	int retries;        /* busy answers so far (queue_retry) */
	int metered;        /* already has its request_log row (relayctl retry) */
	enum fmt_kind fmt;
	char model[256];
	char *headers;      /* JSON object text, may be NULL */
	char *body;
	size_t body_len;
	char lock[96];      /* '<prefix>:item:<id>', held while processing */
	unsigned long long lock_gen; /* db_generation() the lock lives on */
	char backend[200];  /* the serving backend for request_log (meter.h
			       backend), "" = none */
};

/* Loads item `id`, which this process claimed through relay_wait (that is,
 * it is processing and this connection holds its item lock). */
enum relay_err queue_load(struct db *db, const struct cfg *c, long long id,
			  struct queue_item *it);

/* Stores the result of a claimed item and meters it, in one transaction;
 * then releases the item lock. `response` is what the client would have
 * received (for streams the full event-stream text). */
enum relay_err queue_finish(struct db *db, struct queue_item *it,
			    const struct relay_outcome *oc,
			    const char *content_type,
			    const char *response, size_t response_len);

/* Seconds to wait before retry number retries+1 of a busy answer: the
 * upstream's Retry-After if it sent one (-1 if not), else 1, 2, 4, 8, ...;
 * between 1 and QUEUE_BUSY_MAX_DELAY. */
int queue_busy_delay(int retries, int retry_after);
/* Puts a claimed item that the upstream refused as busy back to waiting,
 * due in delay_s seconds, without metering it (nothing was served); then
 * releases the item lock. RE_ENOTFOUND if the claim is no longer ours. */
enum relay_err queue_retry(struct db *db, struct queue_item *it, int delay_s);
/* Fails a claimed item without an upstream exchange (e.g. endpoint not
 * configured), metering it as an error. */
enum relay_err queue_fail(struct db *db, struct queue_item *it, int http_status,
			  const char *why);

void queue_item_free(struct queue_item *it);

/* Puts items whose worker died back to waiting (or fails them after
 * QUEUE_MAX_ATTEMPTS claims). *n = items recovered. */
enum relay_err queue_recover(struct db *db, int *n);

/* Deletes finished items older than result_retention_hours, in batches. */
enum relay_err queue_purge(struct db *db, const struct cfg *c, int *n);

#endif
