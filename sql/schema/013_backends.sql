-- 013_backends.sql - several upstream accounts in one pool (issue 13).
--
-- A backend is one upstream account: its format, base URL, key (sealed
-- with AES-256-GCM by the binaries; the database never sees it in clear),
-- its own concurrency (slots), a weight, the models it serves and an
-- optional client model -> upstream model mapping. The legacy settings
-- (openai_url / anthropic_url / upstream_api_key / upstream_slots) are the
-- implicit backend 0, "default": it is no row here, serves both formats its
-- URLs are set for (the binaries pass that as p_dflt: 1 = OpenAI, 2 =
-- Anthropic) and keeps the old slot names '<prefix>:slot:<i>', so a mixed
-- old/new deployment never overshoots the legacy slots. Backend N's slots
-- are '<prefix>:slot:<N>:<i>'.
--
-- Dispatch, per backend: a caller takes a free slot of backend B (weighted
-- among the free ones) only when no due waiting item that B can serve is
-- ahead of it (priority DESC, then id), so an idle backend is never held
-- back by a queue for another model, and order among those competing for
-- B stays the queue's one order.
--
-- Health (passive): a failed try counts in backend_state.fails; at the
-- binaries' threshold the backend gets cool_until (backoff); while
-- cool_until is in the future it has no slots, after it one slot (one
-- probe at a time) until a success clears the state. Writes happen only on
-- failures and on the recovery, never on an ordinary success.

CREATE TABLE IF NOT EXISTS backends (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name        VARCHAR(64) NOT NULL,
  format      ENUM('openai','anthropic') NOT NULL,
  base_url    VARCHAR(2048) NOT NULL,
  auth        ENUM('bearer','x-api-key') NOT NULL DEFAULT 'bearer',
  key_sealed  VARBINARY(2200) NULL,          -- nonce | ciphertext | tag
  key_last4   VARCHAR(4) NOT NULL DEFAULT '',
  slots       INT UNSIGNED NOT NULL DEFAULT 1,
  weight      INT UNSIGNED NOT NULL DEFAULT 1,
  enabled     TINYINT(1) NOT NULL DEFAULT 1,
  models      TEXT NULL,                     -- comma-separated names/globs, NULL = all
  model_map   TEXT NULL,                     -- ordered "pattern=target" pairs, comma-separated
  mode        ENUM('pass','translate') NOT NULL DEFAULT 'pass',
  preset      VARCHAR(32) NOT NULL DEFAULT '',
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_backends_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Health per backend; backend_id 0 is the implicit default.
CREATE TABLE IF NOT EXISTS backend_state (
  backend_id   INT UNSIGNED NOT NULL,
  fails        INT UNSIGNED NOT NULL DEFAULT 0,   -- consecutive failed tries
  cool_until   DATETIME(3) NULL,                  -- NULL = healthy
  last_status  SMALLINT UNSIGNED NULL,
  last_error   VARCHAR(300) NULL,
  last_fail_at DATETIME NULL,
  last_ok_at   DATETIME NULL,
  PRIMARY KEY (backend_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Bumped by every change of a backend: a process reloads its copy (URLs,
-- keys, mappings) when the number moved.
CREATE TABLE IF NOT EXISTS backend_gen (
  id   TINYINT UNSIGNED NOT NULL,
  gen  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
INSERT IGNORE INTO backend_gen (id, gen) VALUES (1, 0);

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS backend_id INT UNSIGNED NULL AFTER route,
  ADD COLUMN IF NOT EXISTS backend VARCHAR(64) NULL AFTER backend_id,
  ADD COLUMN IF NOT EXISTS tries TINYINT UNSIGNED NOT NULL DEFAULT 1 AFTER backend;

-- The tries of a request that failed over (a request served on its first
-- try has its one try in request_log itself).
CREATE TABLE IF NOT EXISTS request_tries (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  log_id      BIGINT UNSIGNED NOT NULL,
  try_no      TINYINT UNSIGNED NOT NULL,
  backend_id  INT UNSIGNED NOT NULL,
  backend     VARCHAR(64) NOT NULL DEFAULT '',
  http_status SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  latency_ms  INT UNSIGNED NOT NULL DEFAULT 0,
  error       VARCHAR(300) NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_request_tries_log (log_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The routines this migration defined (relay_bslots, relay_slot_name,
-- relay_bfree, relay_ahead, relay_grab, relay_head_for, relay_held_slot,
-- relay_wait, relay_sleeper, relay_wake, relay_wait_resume, relay_failover,
-- relay_backend_fail, relay_backend_ok, relay_backend_bump,
-- relay_slots_used) are no longer here: each is one file in sql/routines/,
-- in its newest form, applied by `relayctl migrate` after the schema
-- (docs/design/sql-routines.md).
