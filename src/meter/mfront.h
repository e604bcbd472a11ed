/* mfront.h - the one front door of metering: where a finished request's
 * record goes. The exchange, the worker and every door hand it a struct
 * meter_rec; this module alone chooses among the four ways a row gets
 * written, so a caller cannot pick the wrong one:
 *   registered  the fast path's request, registered with bin/meterd at
 *               admission: its numbered FIN (meterc_finish)
 *   handed      another direct request in a FastCGI process: the record
 *               and its in-flight entry handed to bin/meterd (meterc_hand)
 *   thread      meterd not configured or not answering: this process's
 *               metering thread (meterq.h)
 *   inline      everything else (a queued item's row, an inline waiter
 *               in a transaction, plain CGI, meter_async off): written
 *               here and now through relay_finish (meter_record) */
#ifndef RELAY_MFRONT_H
#define RELAY_MFRONT_H
#include "err.h"
#include "meter.h"

struct cfg;
struct db;
struct meterc;
struct meterq;

struct meter_front {
	const struct cfg *cfg;   /* NULL: a bad config, meter inline */
	struct meterc *mc;       /* bin/meterd's socket, made at first use */
	struct meterq *mq;       /* the metering thread, made at first use */
	int mq_failed;           /* it could not start: meter inline */
};

/* c (may be NULL) must outlive f. */
void mfront_init(struct meter_front *f, const struct cfg *c);
/* Meters what is still held (the thread's records, meterd's unacknowledged
 * ones) and frees both. */
void mfront_free(struct meter_front *f, struct db *db);

/* bin/meterd's socket for this process's direct requests (made at the
 * first call), or NULL: no meter_socket, meter_async off, or plain CGI
 * (one request per process: nothing to hand over after the answer). */
struct meterc *mfront_meterc(struct meter_front *f);

/* Writes m's row by whichever way fits (see above). slot: the name of the
 * upstream slot this connection still holds, or NULL; it is let go of
 * with the connection's other locks whichever way is taken. Returns 0, or
 * the error of an inline write (the caller logs it). f may be NULL: a
 * row written inside the caller's transaction (the queue's), always inline. */
enum relay_err meter_finish(struct meter_front *f, struct db *db,
			    const struct meter_rec *m, const char *slot);
#endif
