-- request_log_usage.sql - trigger request_log_usage (last defined by migration 020).
-- Runs on every INSERT into request_log. Used by MariaDB itself.

DELIMITER //

CREATE OR REPLACE TRIGGER request_log_usage AFTER INSERT ON request_log
  FOR EACH ROW
BEGIN
  IF @relay_batch IS NULL THEN
    INSERT INTO daily_usage (user_id, day, requests, tokens, errors)
    SELECT id, COALESCE(NEW.day, DATE(NEW.created_at)),
           IF(NEW.admit_id IS NOT NULL AND NEW.queue_id IS NULL, 1, 0),
           NEW.total_tokens,
           IF(NEW.error IS NOT NULL OR NEW.http_status >= 400, 1, 0)
    FROM users WHERE id = NEW.user_id
    ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),
      tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);
  END IF;
END //

DELIMITER ;
