-- 002_usage_trigger.sql - daily token/error counters follow request_log.
-- Metering used to be an INSERT into request_log plus an upsert of
-- daily_usage in one explicit transaction: four round trips per request.
-- With this trigger the single INSERT does both, atomically (the trigger runs
-- inside the INSERT's own statement and transaction).
-- The day is the local calendar day: binaries set the session time zone to
-- RELAY_TIMEZONE's offset, so DATE(created_at) is that day. A request of a
-- user deleted meanwhile is logged but counts nowhere (no FK failure).

CREATE TRIGGER IF NOT EXISTS request_log_usage AFTER INSERT ON request_log
  FOR EACH ROW
  INSERT INTO daily_usage (user_id, day, tokens, errors)
  SELECT id, DATE(NEW.created_at), NEW.total_tokens,
         IF(NEW.error IS NOT NULL OR NEW.http_status >= 400, 1, 0)
  FROM users WHERE id = NEW.user_id
  ON DUPLICATE KEY UPDATE tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);
