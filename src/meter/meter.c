/* meter.c - request log and daily usage. */
#include <string.h>
#include <time.h>
#include "cfg.h"
#include "clip.h"
#include "db.h"
#include "log.h"
#include "meter.h"

#define ER_DUP_ENTRY 1062
/* How long a finish waits for an unreachable database (a restart). */
#define METER_RETRY_MS 30000
#define METER_RETRY_STEP_MS 250

/* The finish failed without reaching the server (connect refused, the
 * connection found closed before sending; not db_unknown: it cannot have
 * run), outside a caller's transaction: safe to run again. A direct
 * request's row is what makes it count (a MariaDB restart empties
 * the in-flight table), so it waits for the database rather than give up. */
static int meter_may_retry(struct db *db, int *waited_ms)
{
	struct timespec ts = { 0, METER_RETRY_STEP_MS * 1000000L };
	unsigned e = db_errno(db);

	if (db_unknown(db) || db_in_txn(db) || e < 2000 || e > 2999 ||
	    *waited_ms >= METER_RETRY_MS)
		return 0;
	if (*waited_ms == 0)
		log_warn("database unreachable at metering (%s); trying again for up to %d s",
			 db_error(db), METER_RETRY_MS / 1000);
	nanosleep(&ts, NULL);
	*waited_ms += METER_RETRY_STEP_MS;
	return 1;
}

int meter_is_error(const struct meter_rec *m)
{
	return m->error != NULL || m->http_status >= 400;
}

enum relay_err meter_record(struct db *db, const struct meter_rec *m,
			    const char *release)
{
	static const char ins[] =
		"CALL relay_finish(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	const char *model = m->model ? m->model : "";
	const struct cfg *c = db_cfg(db);
	enum relay_err rc;
	int tries = 0, waited_ms = 0;

again:
	rc = DBX(db, ins, NULL, DBS(release), DBI(m->user_id), DBI(m->key_id),
		 m->queue_id ? DBI(m->queue_id) : DBNULL,
		 DBS(fmt_name(m->fmt)), DBB(model, clip_utf8(model, 255)),
		 DBI(m->stream ? 1 : 0), DBI(m->http_status),
		 DBI(usage_prompt(&m->usage)), DBI(usage_completion(&m->usage)),
		 DBI(usage_total(&m->usage)), DBI(m->usage.found == 2 ? 2 : m->usage.found ? 1 : 0),
		 DBI(m->latency_ms < 0 ? 0 : m->latency_ms),
		 m->error ? DBB(m->error, clip_utf8(m->error, 1000)) : DBNULL,
		 DBS(m->route ? m->route : "call"), DBS(c->lock_prefix),
		 DBI(c->upstream_slots), DBI(c->queue_wait_max),
		 m->day && m->day[0] ? DBS(m->day) : DBNULL, DBS(m->backend),
		 m->admit_id ? DBI(m->admit_id) : DBNULL);
	/* A waiter's connection can carry a late kill of its last nap into
	 * this statement (relay_wait_resume says how): relay_finish's writes
	 * are one transaction, rolled back when cut short, so it runs again;
	 * cut short after its commit, the second run finds its own row by the
	 * admission id and writes nothing (an inline row's: the duplicate
	 * queue_id). */
	if (rc && db_cut_short(db) && !tries++)
		goto again;   /* a deadlock victim too: nothing of it was kept */
	if (rc && meter_may_retry(db, &waited_ms))
		goto again;
	if (rc && db_errno(db) == ER_DUP_ENTRY) {
		log_warn("queue item %lld already metered", m->queue_id);
		rc = RE_EINVAL;
	}
	if (!m->usage.found && !meter_is_error(m))
		log_warn("no usage reported by the upstream (model %s): tokens logged as 0, flagged usage_known=0",
			 model);
	return rc;
}
