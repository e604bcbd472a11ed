/* metrics.h - GET /metrics in the Prometheus text format (issue 16).
 *
 * Counters are totals over every process and host, so they are read from
 * MariaDB: metrics_rollup() folds the request_log rows added since the last
 * rollup (one primary-key range) into metrics_totals / metrics_wait
 * (sql/schema/015_ops.sql), and metrics_render() reads those plus the live
 * queue, the slots and today's counters. Nothing is written per request. */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include "buf.h"
#include "err.h"

struct cfg;
struct db;

/* Most request_log rows folded in per call: a long-unscraped log catches
 * up over several calls instead of one long transaction. */
#define METRICS_ROLLUP_MAX 100000
/* Distinct model labels kept; later ones count as model="(other)", so a
 * client inventing model names cannot blow up the series count. */
#define METRICS_MODELS_MAX 200

/* Folds new request_log rows (up to the first one younger than 2 s, so a
 * row whose commit is still under way is not skipped) into the totals and
 * usage_model_daily, in one short
 * transaction. *rows = rows folded. Safe to run from several processes at
 * once (the high-water mark row is locked). */
enum relay_err metrics_rollup(struct db *db, long long *rows);

/* Appends the whole exposition to out (the caller owns out). With the
 * database unreachable only llm_relay_db_up 0 is written, and RE_EDB is
 * returned (the exposition is still valid). */
enum relay_err metrics_render(struct db *db, const struct cfg *c, struct buf *out);

/* Appends s as a Prometheus label value (\\, \" and \n escaped; other
 * bytes as they are). */
enum relay_err metrics_label(struct buf *out, const char *s);

#endif
