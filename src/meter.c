/* meter.c - request log and daily usage. */
#include <string.h>
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "meter.h"

#define ER_DUP_ENTRY 1062

int meter_is_error(const struct meter_rec *m)
{
	return m->error != NULL || m->http_status >= 400;
}

size_t meter_clip(const char *s, size_t n)
{
	size_t len = strlen(s);

	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

enum relay_err meter_record(struct db *db, const struct meter_rec *m,
			    const char *release)
{
	static const char ins[] =
		"CALL relay_finish(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	const char *model = m->model ? m->model : "";
	const struct cfg *c = db_cfg(db);
	enum relay_err rc;
	int tries = 0;

again:
	rc = DBX(db, ins, NULL, DBS(release), DBI(m->user_id), DBI(m->key_id),
		 m->queue_id ? DBI(m->queue_id) : DBNULL,
		 DBS(fmt_name(m->fmt)), DBB(model, meter_clip(model, 255)),
		 DBI(m->stream ? 1 : 0), DBI(m->http_status),
		 DBI(usage_prompt(&m->usage)), DBI(usage_completion(&m->usage)),
		 DBI(usage_total(&m->usage)), DBI(m->usage.found ? 1 : 0),
		 DBI(m->latency_ms < 0 ? 0 : m->latency_ms),
		 m->error ? DBB(m->error, meter_clip(m->error, 1000)) : DBNULL,
		 DBS(m->route ? m->route : "call"), DBS(c->lock_prefix),
		 DBI(c->upstream_slots), DBI(c->queue_wait_max),
		 m->day && m->day[0] ? DBS(m->day) : DBNULL,
		 m->admit_id ? DBI(m->admit_id) : DBNULL);
	/* A waiter's connection can carry a late kill of its last nap into
	 * this statement (sql/011): relay_finish writes its log row last, in
	 * one statement, so one that was cut short wrote nothing and runs
	 * again (what came before the row is safe to repeat). */
	if (rc && db_errno(db) == DB_ER_QUERY_INTERRUPTED && !tries++)
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
