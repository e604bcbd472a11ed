/* retain.c - request_log retention in small batches (see retain.h). */
#include <stdio.h>
#include <time.h>
#include "db.h"
#include "log.h"
#include "retain.h"

static double retain_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void retain_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

/* The cutoff as a DATETIME string, the oldest and newest ids, and *hi,
 * the id of the newest row created before the cutoff (all index lookups,
 * no scan). */
static enum relay_err retain_bounds(struct db *db, int days, char cutoff[32],
				    long long *lo, long long *max, long long *hi)
{
	struct db_res res;
	enum relay_err rc;

	rc = DBX(db, "SELECT NOW() - INTERVAL ? DAY, (SELECT MIN(id) FROM request_log),"
		 " (SELECT MAX(id) FROM request_log)", &res, DBI(days));
	if (rc)
		return rc;
	snprintf(cutoff, 32, "%s", db_res_str(&res, 0, 0) ? db_res_str(&res, 0, 0) : "");
	*lo = db_res_int(&res, 0, 1, 1);
	*max = db_res_int(&res, 0, 2, 0);
	db_res_free(&res);
	rc = DBX(db, "SELECT id FROM request_log WHERE created_at < ?"
		 " ORDER BY created_at DESC, id DESC LIMIT 1", &res, DBS(cutoff));
	if (rc)
		return rc;
	*hi = res.nrows ? db_res_int(&res, 0, 0, 0) : 0;
	db_res_free(&res);
	return RE_OK;
}

/* One batch: ids [lo, bhi] older than the cutoff, archived and deleted in
 * one transaction. *n = rows deleted. */
static enum relay_err retain_batch(struct db *db, const struct retain_opts *o,
				   const char *cutoff, long long lo, long long bhi,
				   long long *n)
{
	enum relay_err rc;

	*n = 0;
	if (o->dry_run) {
		struct db_res res;
		rc = DBX(db, "SELECT COUNT(*) FROM request_log WHERE id BETWEEN ? AND ?"
			 " AND created_at < ?", &res, DBI(lo), DBI(bhi), DBS(cutoff));
		if (!rc) {
			*n = db_res_int(&res, 0, 0, 0);
			db_res_free(&res);
		}
		return rc;
	}
	if ((rc = db_begin(db)))
		return rc;
	if (o->archive &&
	    (rc = DBX(db, "INSERT INTO request_log_archive SELECT * FROM request_log"
		      " WHERE id BETWEEN ? AND ? AND created_at < ?", NULL,
		      DBI(lo), DBI(bhi), DBS(cutoff))))
		goto fail;
	if ((rc = DBX(db, "DELETE FROM request_log WHERE id BETWEEN ? AND ? AND created_at < ?",
		      NULL, DBI(lo), DBI(bhi), DBS(cutoff))))
		goto fail;
	*n = (long long)db_affected(db);
	return db_commit(db);
fail:
	db_rollback(db);
	return rc;
}

enum relay_err retain_purge(struct db *db, const struct retain_opts *o,
			    struct retain_result *out)
{
	double t0 = retain_now();
	char cutoff[32];
	long long lo, max, hi, n = 0;
	int batch = o->batch > 0 ? o->batch : RETAIN_BATCH_DEFAULT;
	enum relay_err rc;

	out->deleted = out->batches = 0;
	out->done = 0;
	if (o->days < 1)
		return RE_EINVAL;
	if ((rc = retain_bounds(db, o->days, cutoff, &lo, &max, &hi)))
		return rc;
	if (!hi) {
		out->done = 1;      /* nothing older than the cutoff */
		return RE_OK;
	}
	/* Ids follow time, but not exactly (a clock stepped back, rows
	 * written with their own time): walk up to the newest old row found,
	 * and on past it while batches still find old rows. */
	while (lo <= max && (lo <= hi || n > 0)) {
		long long bhi = lo + batch - 1;
		struct db_res res;

		if ((rc = retain_batch(db, o, cutoff, lo, bhi, &n)))
			return rc;
		out->deleted += n;
		out->batches++;
		/* the next row that exists: a gap (rows deleted before) costs
		 * one lookup, not empty batches */
		if ((rc = DBX(db, "SELECT MIN(id) FROM request_log WHERE id > ?", &res, DBI(bhi))))
			return rc;
		lo = db_res_int(&res, 0, 0, max + 1);
		db_res_free(&res);
		if (lo > max || (lo > hi && n == 0))
			break;
		if (o->max_seconds > 0 && retain_now() - t0 >= o->max_seconds)
			return RE_OK;
		retain_sleep_ms(o->pause_ms);
	}
	out->done = 1;
	return RE_OK;
}
