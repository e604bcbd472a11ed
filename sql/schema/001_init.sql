-- 001_init.sql - the initial schema of llm-relay.
-- Applied by `relayctl migrate` (compiled into the binary); never by hand.
-- Timestamps are TIMESTAMP columns: stored as UTC, shown in the session
-- time zone, which every binary sets to RELAY_TIMEZONE's current offset.
-- "Day" columns are the local calendar day computed by the binaries.

CREATE TABLE IF NOT EXISTS users (
  id              INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name            VARCHAR(64) NOT NULL,
  enabled         TINYINT(1) NOT NULL DEFAULT 1,
  daily_requests  INT UNSIGNED NOT NULL DEFAULT 1000,    -- 0 = unlimited
  daily_tokens    BIGINT UNSIGNED NOT NULL DEFAULT 100000, -- 0 = unlimited
  priority        INT NOT NULL DEFAULT 0,                -- higher first in the queue
  created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS api_keys (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id     INT UNSIGNED NOT NULL,
  key_hash    CHAR(64) CHARACTER SET ascii NOT NULL,  -- hex SHA-256 of the key
  key_prefix  VARCHAR(16) CHARACTER SET ascii NOT NULL, -- shown in listings
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at  DATE NULL,                                -- valid through this local day
  revoked_at  TIMESTAMP NULL,
  last_used_at TIMESTAMP NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_api_keys_hash (key_hash),
  KEY ix_api_keys_user (user_id),
  KEY ix_api_keys_prefix (key_prefix),
  CONSTRAINT fk_api_keys_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS daily_usage (
  user_id   INT UNSIGNED NOT NULL,
  day       DATE NOT NULL,
  requests  INT UNSIGNED NOT NULL DEFAULT 0,  -- reserved before forwarding
  tokens    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  errors    INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day),
  KEY ix_daily_usage_day (day),
  CONSTRAINT fk_daily_usage_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS queue (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id        INT UNSIGNED NOT NULL,
  key_id         INT UNSIGNED NOT NULL,
  priority       INT NOT NULL DEFAULT 0,           -- copied from the user
  format         VARCHAR(16) CHARACTER SET ascii NOT NULL,
  model          VARCHAR(255) NOT NULL DEFAULT '',
  stream         TINYINT(1) NOT NULL DEFAULT 0,
  headers        TEXT NULL,                        -- JSON: headers needed upstream
  body           LONGBLOB NULL,                    -- request body, byte for byte
  status         ENUM('waiting','processing','completed','failed') NOT NULL DEFAULT 'waiting',
  response       LONGBLOB NULL,
  http_status    SMALLINT UNSIGNED NULL,
  content_type   VARCHAR(255) NULL,
  error_message  VARCHAR(1024) NULL,
  attempts       INT UNSIGNED NOT NULL DEFAULT 0,
  worker         VARCHAR(128) NULL,                -- lock name held while processing
  metered        TINYINT(1) NOT NULL DEFAULT 0,    -- usage already counted
  added_at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  started_at     TIMESTAMP NULL,
  completed_at   TIMESTAMP NULL,
  PRIMARY KEY (id),
  KEY ix_queue_next (status, priority, id),
  KEY ix_queue_user (user_id),
  KEY ix_queue_completed (status, completed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS request_log (
  id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id            INT UNSIGNED NOT NULL,
  key_id             INT UNSIGNED NOT NULL,
  queue_id           BIGINT UNSIGNED NULL,
  format             VARCHAR(16) CHARACTER SET ascii NOT NULL,
  model              VARCHAR(255) NOT NULL DEFAULT '',
  stream             TINYINT(1) NOT NULL DEFAULT 0,
  http_status        SMALLINT UNSIGNED NOT NULL,
  prompt_tokens      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  completion_tokens  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  total_tokens       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  usage_known        TINYINT(1) NOT NULL DEFAULT 0, -- 0 = upstream reported no usage
  latency_ms         INT UNSIGNED NOT NULL DEFAULT 0,
  error              VARCHAR(1024) NULL,
  created_at         TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_request_log_user (user_id, created_at),
  KEY ix_request_log_created (created_at),
  UNIQUE KEY uq_request_log_queue (queue_id)  -- a queued item is metered once
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
