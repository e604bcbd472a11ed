/* Layer meter (src/meter/): one request's log row and usage: in the
 * process, on a thread, or through meterd. */
/* meter.h - usage metering shared by call.php and the queue worker:
 * one request_log row plus today's token/error counters. */
#ifndef RELAY_METER_H
#define RELAY_METER_H

#include "err.h"
#include "fmt.h"
#include "sse.h"

struct db;

struct meter_rec {
	long long user_id, key_id;
	long long queue_id;        /* 0 = forwarded directly; an inline
				      waiter's row is closed with it */
	const char *route;         /* "call", "chat", ...; NULL = "call" */
	enum fmt_kind fmt;
	const char *model;
	int stream;
	int http_status;           /* what the client got (502 on failure) */
	struct usage usage;
	long latency_ms;
	const char *error;         /* NULL when the exchange succeeded */
	const char *backend;       /* JSON text for relay_finish's p_backend
				      (serving backend, failed tries,
				      translated), NULL =
				      never went upstream */
	const char *day;           /* "YYYY-MM-DD" the request was admitted
				      on (its tokens count there too); NULL =
				      a queued item's queue day, else today */
	long long admit_id;        /* the admission id (relay_admit); 0 = none
				      (a queue worker's item) */
	int token_limited;         /* the user has a daily token limit: a
				      row written later puts the tokens on
				      the in-flight entry first (relay_pend),
				      so the next admission sees them */
};


/* Counts as an error: an error text or an HTTP status >= 400. */
int meter_is_error(const struct meter_rec *m);

/* Writes the log row through relay_finish (sql/routines/relay_finish.sql),
 * releasing the named lock `release` first when it is not NULL (call.php's
 * upstream slot: the release and the metering share one round trip). The
 * request_log_usage trigger (sql/routines/request_log_usage.sql) adds the
 * tokens and the error to the user's daily usage within the same statement.
 * Joins the caller's transaction if one is open (the queue worker commits the
 * item's completion with it). A queued item can be metered only once:
 * request_log.queue_id is unique, and a second attempt returns RE_EINVAL. Also
 * lets go of the user's concurrency lock (relay_release_user), closes an
 * inline waiter's queue row and wakes whoever is next in line for the freed
 * slot. With an admission id the log row is what makes the request durable:
 * the row, an inline waiter's queue row and the request's count in daily_usage
 * are one commit, and the request's in-flight entry goes after it. */
enum relay_err meter_record(struct db *db, const struct meter_rec *m,
			    const char *release);

#endif
