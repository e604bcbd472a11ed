-- 016_inflight.sql - one durable commit per direct request (issue 16).
--
-- Before: admission reserved the request with a durable upsert of
-- daily_usage (one redo-log fsync) and the finish wrote the request_log row
-- (another). Now a request in flight is an entry in `inflight`, a MEMORY
-- table (no redo log, no fsync), and it becomes durable exactly once, with
-- the first durable write that is about it anyway:
--   * a direct request: its request_log row (the usage trigger counts the
--     request in daily_usage.requests in the same transaction);
--   * a queued request (202 or inline waiter): its queue row (relay_enqueue
--     counts it in daily_usage.requests in the same transaction).
-- The entry is removed only after that commit, so at every moment a request
-- counts in daily_usage, in inflight, or (for an instant) in both: the
-- daily limit is checked against daily_usage.requests + inflight entries,
-- never less than the truth (N concurrent requests never exceed the limit).
--
-- Liveness: the request's connection holds the named lock in
-- inflight.lock_name ('<prefix>:req:<id>') from admission to the end of
-- its finish. An entry whose lock is free belongs to a relay process that
-- died (kill -9) or lost its database connection: whoever sees it first
-- (the user's next admission, a queue worker) takes the lock and writes the
-- request's one request_log row (HTTP 500, relay_swept_why()), which counts
-- it. If the relay was alive after all (it only lost its connection), its
-- finish replaces that row with the real outcome, so the request still
-- ends as exactly one row, counted once.
--
-- A MariaDB restart empties `inflight`: a request in flight then counts
-- when its finish writes its row (meter_record runs it on the new
-- connection; the row carries the admission id, so it counts once). Until
-- then the limit check does not see it; relay processes holding a slot put
-- their entry back within 200 ms (relay_rebind, from the exchange's
-- connection check), and admissions of limited users wait for the first
-- relay_restart_grace() seconds of the server's uptime, so they see those
-- entries.

CREATE TABLE IF NOT EXISTS inflight (
  id           BIGINT UNSIGNED NOT NULL,       -- UUID_SHORT(): unique across restarts
  user_id      INT UNSIGNED NOT NULL,
  key_id       INT UNSIGNED NOT NULL,
  day          DATE NOT NULL,                  -- the local day it counts on
  conn_id      BIGINT UNSIGNED NOT NULL,
  lock_name    VARCHAR(128) CHARACTER SET ascii NOT NULL,
  admitted_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_inflight_user USING BTREE (user_id, day)
) ENGINE=MEMORY DEFAULT CHARSET=utf8mb4;

-- Empty after every MariaDB start (MEMORY): the first admission of a
-- limited user after a start looks at the server's uptime (the grace
-- below), later ones see this row and do not.
CREATE TABLE IF NOT EXISTS inflight_boot (
  id  TINYINT UNSIGNED NOT NULL,
  PRIMARY KEY (id)
) ENGINE=MEMORY;

-- The admission id of the request a row is about: a direct request's log
-- row counts its request (unique: once); a queue row carries it so a sweep
-- can see that the request became durable there.
ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS admit_id BIGINT UNSIGNED NULL AFTER queue_id,
  ADD UNIQUE KEY IF NOT EXISTS uq_request_log_admit (admit_id);
-- the archive (015) keeps request_log's columns, in the same order, for
-- its INSERT ... SELECT * (without the unique key: ids are archived once)
ALTER TABLE request_log_archive
  ADD COLUMN IF NOT EXISTS admit_id BIGINT UNSIGNED NULL AFTER queue_id;
ALTER TABLE queue
  ADD COLUMN IF NOT EXISTS admit_id BIGINT UNSIGNED NULL,
  ADD KEY IF NOT EXISTS ix_queue_admit (admit_id);

-- The routines this migration defined (request_log_usage, relay_swept_why,
-- relay_restart_grace, relay_requests_used, relay_sweep_one, relay_sweep,
-- relay_rebind, relay_settle, relay_unreserve, relay_enqueue) are no longer
-- here: each is one file in sql/routines/, in its newest form, applied by
-- `relayctl migrate` after the schema (docs/design/sql-routines.md).
