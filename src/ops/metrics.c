/* metrics.c - the Prometheus exposition of GET /metrics (see metrics.h). */
#include <stdio.h>
#include <string.h>
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "meterc.h"
#include "metrics.h"

/* Bucket bounds of the latency histogram (ms; columns le_<ms> of
 * metrics_totals) and of the queue-wait histogram (s; metrics_wait). */
static const char *const lat_le[] = { "0.1", "0.25", "0.5", "1", "2.5", "5",
	"10", "30", "60", "120", "300" };
#define LAT_N (sizeof(lat_le) / sizeof(lat_le[0]))
static const char *const wait_le[] = { "1", "5", "15", "30", "60", "120", "300", "600" };
#define WAIT_N (sizeof(wait_le) / sizeof(wait_le[0]))

/* ---- rollup ---- */

/* The label a group's model gets: itself if already known or while there
 * is room, else "(other)". known[] holds borrowed strings (*nknown of
 * them, room for METRICS_MODELS_MAX). */
static const char *metrics_model_label(const char *m, const char **known, unsigned *nknown)
{
	for (unsigned i = 0; i < *nknown; i++)
		if (strcmp(known[i], m) == 0)
			return m;
	if (*nknown >= METRICS_MODELS_MAX)
		return "(other)";
	known[(*nknown)++] = m;
	return m;
}

/* Columns of a metrics_totals row (the fold's SELECT and INSERT). */
#define METRICS_TOTAL_COLS 24

/* Adds the request_log rows with id in (lo, hi] to metrics_totals. */
static enum relay_err metrics_fold_totals(struct db *db, long long lo, long long hi)
{
	/* backend: the name of the one that served it (request_log.backend,
	 * sql/schema/013_backends.sql; the legacy settings are "default"),
	 * "none" for a request refused before it went upstream */
	static const char agg[] =
		"SELECT route, http_status, model, COALESCE(backend, 'none'), COUNT(*),"
		" SUM(error IS NOT NULL OR http_status >= 400), SUM(prompt_tokens),"
		" SUM(completion_tokens), SUM(total_tokens), SUM(usage_known = 0), SUM(latency_ms),"
		" SUM(latency_ms <= 100), SUM(latency_ms <= 250), SUM(latency_ms <= 500),"
		" SUM(latency_ms <= 1000), SUM(latency_ms <= 2500), SUM(latency_ms <= 5000),"
		" SUM(latency_ms <= 10000), SUM(latency_ms <= 30000), SUM(latency_ms <= 60000),"
		" SUM(latency_ms <= 120000), SUM(latency_ms <= 300000),"
		" SUM(usage_known = 2), SUM(IF(usage_known = 2, total_tokens, 0))"
		" FROM request_log WHERE id > ? AND id <= ?"
		" GROUP BY route, http_status, model, COALESCE(backend, 'none')";
	static const char up[] =
		"INSERT INTO metrics_totals (route, http_status, model, backend, requests, errors,"
		" prompt_tokens, completion_tokens, total_tokens, no_usage, latency_sum_ms,"
		" le_100, le_250, le_500, le_1000, le_2500, le_5000, le_10000, le_30000, le_60000,"
		" le_120000, le_300000, estimated, estimated_tokens)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		" ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),"
		" errors = errors + VALUES(errors), prompt_tokens = prompt_tokens + VALUES(prompt_tokens),"
		" completion_tokens = completion_tokens + VALUES(completion_tokens),"
		" total_tokens = total_tokens + VALUES(total_tokens), no_usage = no_usage + VALUES(no_usage),"
		" latency_sum_ms = latency_sum_ms + VALUES(latency_sum_ms),"
		" le_100 = le_100 + VALUES(le_100), le_250 = le_250 + VALUES(le_250),"
		" le_500 = le_500 + VALUES(le_500), le_1000 = le_1000 + VALUES(le_1000),"
		" le_2500 = le_2500 + VALUES(le_2500), le_5000 = le_5000 + VALUES(le_5000),"
		" le_10000 = le_10000 + VALUES(le_10000), le_30000 = le_30000 + VALUES(le_30000),"
		" le_60000 = le_60000 + VALUES(le_60000), le_120000 = le_120000 + VALUES(le_120000),"
		" le_300000 = le_300000 + VALUES(le_300000),"
		" estimated = estimated + VALUES(estimated),"
		" estimated_tokens = estimated_tokens + VALUES(estimated_tokens)";
	const char *known[METRICS_MODELS_MAX];
	unsigned nknown = 0;
	struct db_res kres, res;
	struct db_val v[METRICS_TOTAL_COLS];
	enum relay_err rc;

	if ((rc = DBX(db, agg, &res, DBI(lo), DBI(hi))))
		return rc;
	if ((rc = DBX(db, "SELECT DISTINCT model FROM metrics_totals LIMIT ?", &kres,
		      DBI(METRICS_MODELS_MAX)))) {
		db_res_free(&res);
		return rc;
	}
	for (unsigned i = 0; i < kres.nrows && nknown < METRICS_MODELS_MAX; i++)
		if (db_res_str(&kres, i, 0))
			known[nknown++] = db_res_str(&kres, i, 0);
	for (unsigned i = 0; i < res.nrows && !rc; i++) {
		const char *m = db_res_str(&res, i, 2);

		v[0] = DBS(db_res_str(&res, i, 0));
		v[1] = DBS(db_res_str(&res, i, 1));
		v[2] = DBS(metrics_model_label(m ? m : "", known, &nknown));
		for (unsigned k = 3; k < METRICS_TOTAL_COLS; k++)
			v[k] = DBS(db_res_str(&res, i, k));
		rc = db_exec(db, up, v, METRICS_TOTAL_COLS, NULL);
	}
	db_res_free(&kres);
	db_res_free(&res);
	return rc;
}

/* Adds the queue waits of the rows with id in (lo, hi] to metrics_wait:
 * queued (added_at) to started (started_at), for the rows whose queue
 * item is still there (finished items are kept result_retention_hours). */
static enum relay_err metrics_fold_waits(struct db *db, long long lo, long long hi)
{
	static const char agg[] =
		"SELECT route, COUNT(*), SUM(w), SUM(w <= 1), SUM(w <= 5), SUM(w <= 15),"
		" SUM(w <= 30), SUM(w <= 60), SUM(w <= 120), SUM(w <= 300), SUM(w <= 600)"
		" FROM (SELECT l.route,"
		" GREATEST(TIMESTAMPDIFF(SECOND, q.added_at, q.started_at), 0) AS w"
		" FROM request_log l JOIN queue q ON q.id = l.queue_id"
		" WHERE l.id > ? AND l.id <= ? AND q.started_at IS NOT NULL) t GROUP BY route";
	static const char up[] =
		"INSERT INTO metrics_wait (route, waits, wait_sum_s, le_1, le_5, le_15, le_30,"
		" le_60, le_120, le_300, le_600) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		" ON DUPLICATE KEY UPDATE waits = waits + VALUES(waits),"
		" wait_sum_s = wait_sum_s + VALUES(wait_sum_s), le_1 = le_1 + VALUES(le_1),"
		" le_5 = le_5 + VALUES(le_5), le_15 = le_15 + VALUES(le_15),"
		" le_30 = le_30 + VALUES(le_30), le_60 = le_60 + VALUES(le_60),"
		" le_120 = le_120 + VALUES(le_120), le_300 = le_300 + VALUES(le_300),"
		" le_600 = le_600 + VALUES(le_600)";
	struct db_res res;
	struct db_val v[11];
	enum relay_err rc;

	if ((rc = DBX(db, agg, &res, DBI(lo), DBI(hi))))
		return rc;
	for (unsigned i = 0; i < res.nrows && !rc; i++) {
		for (unsigned k = 0; k < 11; k++)
			v[k] = DBS(db_res_str(&res, i, k));
		rc = db_exec(db, up, v, 11, NULL);
	}
	db_res_free(&res);
	return rc;
}

/* Adds the rows with id in (lo, hi] to usage_model_daily and
 * usage_backend_daily, by the day they were admitted on (the console's
 * usage by model and by backend). */
static enum relay_err metrics_fold_models(struct db *db, long long lo, long long hi)
{
	static const char agg[] =
		"INSERT INTO usage_model_daily (day, model, requests, tokens, errors)"
		" SELECT COALESCE(day, DATE(created_at)), model, COUNT(*), SUM(total_tokens),"
		" SUM(error IS NOT NULL OR http_status >= 400) FROM request_log"
		" WHERE id > ? AND id <= ? GROUP BY 1, 2"
		" ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),"
		" tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors)";
	static const char agg_b[] =
		"INSERT INTO usage_backend_daily (day, backend, requests, tokens, errors)"
		" SELECT COALESCE(day, DATE(created_at)), COALESCE(backend, 'none'), COUNT(*),"
		" SUM(total_tokens), SUM(error IS NOT NULL OR http_status >= 400) FROM request_log"
		" WHERE id > ? AND id <= ? GROUP BY 1, 2"
		" ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),"
		" tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors)";
	enum relay_err rc = DBX(db, agg, NULL, DBI(lo), DBI(hi));

	return rc ? rc : DBX(db, agg_b, NULL, DBI(lo), DBI(hi));
}

enum relay_err metrics_rollup(struct db *db, long long *rows)
{
	/* Up to the first row younger than 2 s: ids are handed out at insert
	 * time, so a row still committing may have a lower id than one
	 * already visible; 2 s covers any commit that is not stalled (a row
	 * whose commit took longer would be left out of the counters, never
	 * counted twice). Both lookups stay within the new id range. */
	static const char q_hi[] =
		"SELECT COALESCE((SELECT MIN(id) - 1 FROM request_log WHERE id > ? AND id <= ?"
		" AND created_at >= NOW() - INTERVAL 2 SECOND),"
		" (SELECT MAX(id) FROM request_log WHERE id > ? AND id <= ?), ?)";
	struct db_res res;
	long long lo, hi;
	enum relay_err rc;

	*rows = 0;
	/* The row comes with sql/schema/015_ops.sql; if someone emptied the
	 * table, count from the start of the log again (in METRICS_ROLLUP_MAX
	 * steps). */
	if ((rc = db_exec(db, "INSERT IGNORE INTO metrics_state (id, last_id) VALUES (1, 0)",
			  NULL, 0, NULL)))
		return rc;
	if ((rc = db_begin(db)))
		return rc;
	if ((rc = db_exec(db, "SELECT last_id FROM metrics_state WHERE id = 1 FOR UPDATE",
			  NULL, 0, &res)))
		goto fail;
	lo = db_res_int(&res, 0, 0, -1);
	db_res_free(&res);
	if (lo < 0) {
		rc = RE_EDB;       /* no state row: 015 not applied */
		goto fail;
	}
	if ((rc = DBX(db, q_hi, &res, DBI(lo), DBI(lo + METRICS_ROLLUP_MAX), DBI(lo),
		      DBI(lo + METRICS_ROLLUP_MAX), DBI(lo))))
		goto fail;
	hi = db_res_int(&res, 0, 0, lo);
	db_res_free(&res);
	if (hi <= lo) {
		db_rollback(db);
		return RE_OK;
	}
	if ((rc = metrics_fold_totals(db, lo, hi)) || (rc = metrics_fold_waits(db, lo, hi)) ||
	    (rc = metrics_fold_models(db, lo, hi)))
		goto fail;
	if ((rc = DBX(db, "UPDATE metrics_state SET last_id = ?, rolled_at = NOW() WHERE id = 1",
		      NULL, DBI(hi))))
		goto fail;
	if ((rc = db_commit(db)))
		return rc;
	*rows = hi - lo;   /* the id range; ids are not reused */
	return RE_OK;
fail:
	db_rollback(db);
	return rc;
}

/* ---- rendering ---- */

enum relay_err metrics_label(struct buf *out, const char *s)
{
	enum relay_err rc = RE_OK;
	const char *p = s ? s : "";

	while (*p && !rc) {
		size_t n = strcspn(p, "\\\"\n");

		rc = buf_append(out, p, n);
		p += n;
		if (*p && !rc) {
			rc = buf_puts(out, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\");
			p++;
		}
	}
	return rc;
}

static void metrics_head(struct buf *out, const char *name, const char *type,
			 const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* route="..",status="..",model="..",backend=".." of a metrics_totals row */
static void metrics_series_labels(struct buf *out, const struct db_res *res, unsigned i)
{
	buf_puts(out, "route=\"");
	metrics_label(out, db_res_str(res, i, 0));
	buf_puts(out, "\",status=\"");
	metrics_label(out, db_res_str(res, i, 1));
	buf_puts(out, "\",model=\"");
	metrics_label(out, db_res_str(res, i, 2));
	buf_puts(out, "\",backend=\"");
	metrics_label(out, db_res_str(res, i, 3));
	buf_puts(out, "\"");
}

/* One counter family from column col of every metrics_totals row. */
static void metrics_totals_counter(struct buf *out, const struct db_res *res,
				   const char *name, const char *help, unsigned col)
{
	metrics_head(out, name, "counter", help);
	for (unsigned i = 0; i < res->nrows; i++) {
		buf_printf(out, "%s{", name);
		metrics_series_labels(out, res, i);
		buf_printf(out, "} %lld\n", db_res_int(res, i, col, 0));
	}
}

static enum relay_err metrics_render_totals(struct db *db, struct buf *out)
{
	static const char q[] =
		"SELECT route, http_status, model, backend, requests, errors, prompt_tokens,"
		" completion_tokens, total_tokens, no_usage, latency_sum_ms, le_100, le_250, le_500,"
		" le_1000, le_2500, le_5000, le_10000, le_30000, le_60000, le_120000, le_300000,"
		" estimated, estimated_tokens"
		" FROM metrics_totals ORDER BY route, http_status, model, backend";
	static const char lat[] = "llm_relay_upstream_latency_seconds";
	struct db_res res;
	enum relay_err rc = db_exec(db, q, NULL, 0, &res);

	if (rc)
		return rc;
	metrics_totals_counter(out, &res, "llm_relay_requests_total",
		"Requests that ended (one request_log row each), by route, HTTP status, model and backend.", 4);
	metrics_totals_counter(out, &res, "llm_relay_request_errors_total",
		"Requests that ended as errors (HTTP status >= 400 or an error recorded).", 5);
	metrics_totals_counter(out, &res, "llm_relay_prompt_tokens_total",
		"Prompt (input) tokens the upstream reported.", 6);
	metrics_totals_counter(out, &res, "llm_relay_completion_tokens_total",
		"Completion (output) tokens the upstream reported.", 7);
	metrics_totals_counter(out, &res, "llm_relay_tokens_total",
		"Total tokens the upstream reported (what the daily token limits count).", 8);
	metrics_totals_counter(out, &res, "llm_relay_requests_without_usage_total",
		"Requests whose answer carried no usage (logged with 0 tokens).", 9);
	metrics_totals_counter(out, &res, "llm_relay_requests_estimated_total",
		"Requests metered with the relay's estimate (usage_known = 2): the client left or the answer was too large before its usage was read.", 22);
	metrics_totals_counter(out, &res, "llm_relay_estimated_tokens_total",
		"Total tokens of the requests metered with an estimate (part of llm_relay_tokens_total).", 23);
	metrics_head(out, lat, "histogram",
		"Time from forwarding to the end of the upstream exchange (request_log.latency_ms).");
	for (unsigned i = 0; i < res.nrows; i++) {
		for (unsigned b = 0; b <= LAT_N; b++) {
			buf_printf(out, "%s_bucket{", lat);
			metrics_series_labels(out, &res, i);
			buf_printf(out, ",le=\"%s\"} %lld\n", b < LAT_N ? lat_le[b] : "+Inf",
				   db_res_int(&res, i, b < LAT_N ? 11 + b : 4, 0));
		}
		buf_printf(out, "%s_sum{", lat);
		metrics_series_labels(out, &res, i);
		buf_printf(out, "} %.3f\n", (double)db_res_int(&res, i, 10, 0) / 1000.0);
		buf_printf(out, "%s_count{", lat);
		metrics_series_labels(out, &res, i);
		buf_printf(out, "} %lld\n", db_res_int(&res, i, 4, 0));
	}
	db_res_free(&res);
	return RE_OK;
}

static enum relay_err metrics_render_waits(struct db *db, struct buf *out)
{
	static const char q[] =
		"SELECT route, waits, wait_sum_s, le_1, le_5, le_15, le_30, le_60, le_120, le_300, le_600"
		" FROM metrics_wait ORDER BY route";
	static const char name[] = "llm_relay_queue_wait_seconds";
	struct db_res res;
	enum relay_err rc = db_exec(db, q, NULL, 0, &res);

	if (rc)
		return rc;
	metrics_head(out, name, "histogram",
		"Time from queued to started of requests that waited in the queue (polled or inline; whole seconds).");
	for (unsigned i = 0; i < res.nrows; i++) {
		for (unsigned b = 0; b <= WAIT_N; b++) {
			buf_printf(out, "%s_bucket{route=\"", name);
			metrics_label(out, db_res_str(&res, i, 0));
			buf_printf(out, "\",le=\"%s\"} %lld\n", b < WAIT_N ? wait_le[b] : "+Inf",
				   db_res_int(&res, i, b < WAIT_N ? 3 + b : 1, 0));
		}
		buf_printf(out, "%s_sum{route=\"", name);
		metrics_label(out, db_res_str(&res, i, 0));
		buf_printf(out, "\"} %lld\n%s_count{route=\"", db_res_int(&res, i, 2, 0), name);
		metrics_label(out, db_res_str(&res, i, 0));
		buf_printf(out, "\"} %lld\n", db_res_int(&res, i, 1, 0));
	}
	db_res_free(&res);
	return RE_OK;
}

static void metrics_gauge(struct buf *out, const char *name, const char *help,
			  long long v)
{
	metrics_head(out, name, "gauge", help);
	buf_printf(out, "%s %lld\n", name, v);
}

static enum relay_err metrics_render_live(struct db *db, const struct cfg *c,
					  struct buf *out)
{
	/* Every part is an index lookup or a count over the live queue: no
	 * scan of request_log, whatever its size. */
	static const char q[] =
		"SELECT (SELECT COUNT(*) FROM queue WHERE status = 'waiting' AND inline_wait = 0),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'waiting' AND inline_wait = 1),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'processing'),"
		" (SELECT COUNT(IS_USED_LOCK(CONCAT(?, ':slot:', seq))) FROM seq_1_to_1000"
		"  WHERE seq <= ?),"
		" (SELECT COUNT(*) FROM queue_workers),"
		" (SELECT COALESCE(SUM(requests), 0) FROM daily_usage WHERE day = ?),"
		" (SELECT COALESCE(SUM(tokens), 0) FROM daily_usage WHERE day = ?),"
		" (SELECT COALESCE(SUM(errors), 0) FROM daily_usage WHERE day = ?),"
		" (SELECT COUNT(*) FROM request_log WHERE id >"
		"  (SELECT COALESCE(MAX(last_id), 0) FROM metrics_state WHERE id = 1))";
	struct db_res res;
	char day[11];
	enum relay_err rc;

	db_today(day);
	rc = DBX(db, q, &res, DBS(c->lock_prefix), DBI(c->upstream_slots), DBS(day),
		 DBS(day), DBS(day));
	if (rc)
		return rc;
	metrics_head(out, "llm_relay_queue_length", "gauge",
		"Requests waiting for a slot: polled items (202) and inline waiters.");
	buf_printf(out, "llm_relay_queue_length{kind=\"polled\"} %lld\n", db_res_int(&res, 0, 0, 0));
	buf_printf(out, "llm_relay_queue_length{kind=\"inline\"} %lld\n", db_res_int(&res, 0, 1, 0));
	metrics_gauge(out, "llm_relay_queue_processing", "Queue items being forwarded now.",
		      db_res_int(&res, 0, 2, 0));
	metrics_gauge(out, "llm_relay_upstream_slots", "Upstream slots configured (upstream_slots).",
		      c->upstream_slots);
	metrics_gauge(out, "llm_relay_upstream_slots_in_use",
		      "Upstream slots held now (their GET_LOCKs are taken), on every host.",
		      db_res_int(&res, 0, 3, 0));
	metrics_gauge(out, "llm_relay_queue_workers", "Queue worker processes registered.",
		      db_res_int(&res, 0, 4, 0));
	metrics_gauge(out, "llm_relay_today_requests",
		      "Requests counted today (daily_usage; resets at local midnight).",
		      db_res_int(&res, 0, 5, 0));
	metrics_gauge(out, "llm_relay_today_tokens", "Tokens counted today (daily_usage).",
		      db_res_int(&res, 0, 6, 0));
	metrics_gauge(out, "llm_relay_today_errors", "Errors counted today (daily_usage).",
		      db_res_int(&res, 0, 7, 0));
	metrics_gauge(out, "llm_relay_metrics_pending_rows",
		      "request_log rows not yet folded into the counters (they follow within seconds).",
		      db_res_int(&res, 0, 8, 0));
	db_res_free(&res);
	return RE_OK;
}

static enum relay_err metrics_render_db_errors(struct db *db, struct buf *out)
{
	struct db_res res;
	enum relay_err rc = db_exec(db, "SELECT host, errors FROM metrics_db_errors ORDER BY host",
				    NULL, 0, &res);

	if (rc)
		return rc;
	metrics_head(out, "llm_relay_db_errors_total", "counter",
		"Failed database statements and connects of the relay's processes, by host"
		" (counted once the database answers again).");
	for (unsigned i = 0; i < res.nrows; i++) {
		buf_puts(out, "llm_relay_db_errors_total{host=\"");
		metrics_label(out, db_res_str(&res, i, 0));
		buf_printf(out, "\"} %lld\n", db_res_int(&res, i, 1, 0));
	}
	db_res_free(&res);
	return RE_OK;
}

enum relay_err metrics_render(struct db *db, const struct cfg *c, struct buf *out)
{
	struct buf body;
	enum relay_err rc;

	/* Rendered apart so that a database failure halfway leaves only the
	 * llm_relay_db_up 0 line, never half an exposition. */
	buf_init(&body, out->max);
	if (!(rc = metrics_render_totals(db, &body)) &&
	    !(rc = metrics_render_waits(db, &body)) &&
	    !(rc = metrics_render_live(db, c, &body)))
		rc = metrics_render_db_errors(db, &body);
	metrics_gauge(out, "llm_relay_db_up", "1 if the relay's database answered this scrape.",
		      rc ? 0 : 1);
	metrics_gauge(out, "llm_relay_meterd_up", "1 if bin/meterd answers on meter_socket"
		      " (0: each web process meters on its own, the slower path).",
		      meterc_probe(c->meter_socket) == 1);
	if (!rc && body.len)
		rc = buf_append(out, body.data, body.len);
	if (rc)
		log_error("metrics: %s", db_error(db)[0] ? db_error(db) : "exposition too large");
	buf_free(&body);
	return rc;
}
