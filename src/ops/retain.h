/* retain.h - request_log retention (log_retention_days, log_archive).
 *
 * A log that grows for years is cut from its old end in small batches:
 * each batch is one primary-key range of at most `batch` rows, deleted (and
 * with log_archive first copied to request_log_archive) in its own short
 * transaction, with a pause between batches, so traffic that inserts at
 * the other end never waits on a long delete (the peers' stalls: new-api
 * #6508 / #7425, LiteLLM #12067). daily_usage is untouched: today's limits
 * and the usage reports never read old log rows. */
#ifndef RELAY_RETAIN_H
#define RELAY_RETAIN_H

#include "err.h"

struct db;

struct retain_opts {
	int days;           /* rows created before NOW() - days go; >= 1 */
	int archive;        /* copy to request_log_archive first */
	int batch;          /* rows per statement (range of ids), 1..100000 */
	int pause_ms;       /* sleep between batches */
	double max_seconds; /* stop after this long (0 = until done) */
	int dry_run;        /* count only */
};

struct retain_result {
	long long deleted;   /* rows deleted (and archived) */
	long long batches;   /* transactions committed */
	int done;            /* 1: nothing older is left; 0: stopped by max_seconds */
};

#define RETAIN_BATCH_DEFAULT 1000
#define RETAIN_PAUSE_DEFAULT 20

/* Purges (see above). Rows are chosen by created_at < cutoff (the cutoff
 * is fixed when the call starts) within id ranges walked upwards from the
 * oldest row, so a newer row with a low id is never deleted and never
 * stops the walk. Returns RE_OK, or the database error of a batch (the
 * batches committed before it stay done). */
enum relay_err retain_purge(struct db *db, const struct retain_opts *o,
			    struct retain_result *out);

#endif
