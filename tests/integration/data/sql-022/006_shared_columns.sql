-- 006_shared_columns.sql - columns several features share, added once so
-- that the SDK routes, the hardening, the dispatcher and the console agree.
--   api_keys.name / models : a key's label and its model allow-list
--                            (comma-separated, NULL = every model)
--   users.models           : the user's allow-list, used for keys without one
--   request_log.route      : which door the request came through
--                            ('call', 'chat', 'messages', 'responses', ...)
--   queue.inline_wait      : 1 = the client waits on its own connection
--   queue.route            : as request_log.route

ALTER TABLE api_keys
  ADD COLUMN IF NOT EXISTS name VARCHAR(64) NULL AFTER user_id,
  ADD COLUMN IF NOT EXISTS models TEXT NULL AFTER key_prefix;

ALTER TABLE users
  ADD COLUMN IF NOT EXISTS models TEXT NULL AFTER priority;

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS route VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'call' AFTER queue_id;

ALTER TABLE queue
  ADD COLUMN IF NOT EXISTS inline_wait TINYINT(1) NOT NULL DEFAULT 0 AFTER stream,
  ADD COLUMN IF NOT EXISTS route VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'call' AFTER inline_wait;
