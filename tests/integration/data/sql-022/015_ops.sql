-- 015_ops.sql - operator-side work of issue 16: metrics, log retention.
--
-- Metrics (GET /metrics, src/metrics.c). Prometheus counters must be totals
-- over every process and host, so they live in MariaDB; but nothing here is
-- written per request (no trigger, no extra durable write on the request
-- path). Instead whoever asks (a scrape, or the queue worker's housekeeping
-- once a minute) rolls up the request_log rows added since the last rollup,
-- one primary-key range, into metrics_totals, and moves the high-water mark
-- metrics_state.last_id, all in one short transaction. The cost is then per
-- scrape and proportional to the traffic since the previous one, never to
-- the size of the log.
--
-- Histogram buckets are cumulative columns (le_<ms>): Prometheus' buckets
-- are cumulative, so the export is a straight read. The last (+Inf) bucket
-- is `requests`.

CREATE TABLE IF NOT EXISTS metrics_totals (
  route              VARCHAR(32) CHARACTER SET ascii NOT NULL,
  http_status        SMALLINT UNSIGNED NOT NULL,
  model              VARCHAR(255) NOT NULL,   -- '(other)' past the label cap
  backend            VARCHAR(64) NOT NULL DEFAULT 'default',
  requests           BIGINT UNSIGNED NOT NULL DEFAULT 0,
  errors             BIGINT UNSIGNED NOT NULL DEFAULT 0,
  prompt_tokens      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  completion_tokens  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  total_tokens       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  no_usage           BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- usage_known = 0
  latency_sum_ms     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_100             BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_250             BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_500             BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_1000            BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_2500            BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_5000            BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_10000           BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_30000           BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_60000           BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_120000          BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_300000          BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (route, http_status, model, backend)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Time from queued to started, per route, for the requests that went
-- through the queue (polled items and inline waiters). queue.added_at and
-- started_at are whole seconds, so the buckets start at 1 s.
CREATE TABLE IF NOT EXISTS metrics_wait (
  route        VARCHAR(32) CHARACTER SET ascii NOT NULL,
  waits        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  wait_sum_s   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_1         BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_5         BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_15        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_30        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_60        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_120       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_300       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  le_600       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (route)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row: the last request_log id rolled up. It starts at the log's
-- current end, so upgrading a server with years of log costs nothing
-- (counters start at 0, as a Prometheus counter may).
CREATE TABLE IF NOT EXISTS metrics_state (
  id           TINYINT UNSIGNED NOT NULL,
  last_id      BIGINT UNSIGNED NOT NULL,
  rolled_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id)
) ENGINE=InnoDB;

INSERT IGNORE INTO metrics_state (id, last_id)
  SELECT 1, COALESCE(MAX(id), 0) FROM request_log;

-- Usage by day and model, for the console's "usage by model" (it used to
-- group request_log over 30 days: hundreds of thousands of rows on a log of
-- years). Kept by the same fold as metrics_totals; the rows up to the
-- high-water mark are counted here once, now (one scan at upgrade), and the
-- console adds the few rows past the mark live.
CREATE TABLE IF NOT EXISTS usage_model_daily (
  day       DATE NOT NULL,
  model     VARCHAR(255) NOT NULL,
  requests  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  tokens    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  errors    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (day, model)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO usage_model_daily (day, model, requests, tokens, errors)
  SELECT COALESCE(l.day, DATE(l.created_at)), l.model, COUNT(*), SUM(l.total_tokens),
         SUM(l.error IS NOT NULL OR l.http_status >= 400)
  FROM request_log l
  WHERE l.id <= (SELECT last_id FROM metrics_state WHERE id = 1)
    AND NOT EXISTS (SELECT 1 FROM usage_model_daily LIMIT 1)
  GROUP BY 1, 2;

-- The same by backend (issue 13's request_log.backend; "none" = refused
-- before it went upstream), for the console's usage by backend.
CREATE TABLE IF NOT EXISTS usage_backend_daily (
  day       DATE NOT NULL,
  backend   VARCHAR(64) NOT NULL,
  requests  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  tokens    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  errors    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (day, backend)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO usage_backend_daily (day, backend, requests, tokens, errors)
  SELECT COALESCE(l.day, DATE(l.created_at)), COALESCE(l.backend, 'none'), COUNT(*),
         SUM(l.total_tokens), SUM(l.error IS NOT NULL OR l.http_status >= 400)
  FROM request_log l
  WHERE l.id <= (SELECT last_id FROM metrics_state WHERE id = 1)
    AND NOT EXISTS (SELECT 1 FROM usage_backend_daily LIMIT 1)
  GROUP BY 1, 2;

-- Failed database statements, per host: each process counts its own and
-- adds them here with the first statement that succeeds afterwards (so a
-- database that is down is counted once it is back; nothing is written
-- while all is well).
CREATE TABLE IF NOT EXISTS metrics_db_errors (
  host     VARCHAR(255) NOT NULL,
  errors   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (host)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Log retention (log_retention_days, log_archive; src/retain.c): rows older
-- than the retention are deleted by primary-key ranges of ~1000, each its
-- own short transaction, optionally copied here first in the same
-- transaction. Same columns as request_log (a later migration that adds a
-- column to request_log adds it here too: the copy is INSERT ... SELECT *).
-- No unique queue_id here: an archived row's queue id may come again once
-- the queue table is emptied and its counter restarts.
CREATE TABLE IF NOT EXISTS request_log_archive LIKE request_log;
ALTER TABLE request_log_archive DROP INDEX IF EXISTS uq_request_log_queue;
