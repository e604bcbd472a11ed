-- 009_console.sql - the web console (issue 15): logins, sessions, the
-- login rate limit and the audit log.
--   users.password_hash : crypt(3) string (yescrypt "$y$..." or bcrypt
--                         "$2b$..."), NULL = cannot log in to the console
--   users.is_admin      : 1 = operator (every console page), 0 = member
--   users.pending       : 1 = self-registered, waiting for an admin's approval
--                         (such a user is also disabled until approved)

ALTER TABLE users
  ADD COLUMN IF NOT EXISTS password_hash VARCHAR(255) CHARACTER SET ascii NULL AFTER models,
  ADD COLUMN IF NOT EXISTS is_admin TINYINT(1) NOT NULL DEFAULT 0 AFTER password_hash,
  ADD COLUMN IF NOT EXISTS pending TINYINT(1) NOT NULL DEFAULT 0 AFTER is_admin;

-- Only the SHA-256 of a session token is stored: a leaked table logs nobody
-- in. The CSRF token is per session and useless without the cookie.
CREATE TABLE IF NOT EXISTS console_sessions (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  token_hash  CHAR(64) CHARACTER SET ascii NOT NULL,
  user_id     INT UNSIGNED NOT NULL,
  csrf        CHAR(64) CHARACTER SET ascii NOT NULL,
  addr        VARCHAR(64) CHARACTER SET ascii NOT NULL DEFAULT '',
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_console_sessions_token (token_hash),
  KEY ix_console_sessions_user (user_id),
  KEY ix_console_sessions_expires (expires_at),
  CONSTRAINT fk_console_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per failed login; the rate limit counts recent rows per name and
-- per client address (kind 'name' / 'addr').
CREATE TABLE IF NOT EXISTS console_login_failures (
  id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  kind     VARCHAR(8) CHARACTER SET ascii NOT NULL,
  subject  VARCHAR(128) NOT NULL,
  at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_console_login_failures (kind, subject, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every change made through the console: who, what, when, on what.
-- actor_name is copied so the row stays readable after the user is deleted.
CREATE TABLE IF NOT EXISTS audit_log (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  at          TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  actor_id    INT UNSIGNED NULL,
  actor_name  VARCHAR(64) NOT NULL DEFAULT '',
  action      VARCHAR(64) CHARACTER SET ascii NOT NULL,
  target      VARCHAR(255) NOT NULL DEFAULT '',
  detail      VARCHAR(1024) NULL,
  addr        VARCHAR(64) CHARACTER SET ascii NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY ix_audit_log_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
