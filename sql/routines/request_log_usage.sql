-- request_log_usage.sql - trigger: daily_usage follows request_log.
-- Fires after every INSERT into request_log: relay_settle (relay_finish),
-- relay_cancel, relay_close_dead, relay_sweep_one; relay_finish_batch
-- stands it aside.
--
-- Daily token and error counters follow request_log, in the INSERT's own
-- statement and transaction. The day is the request's (request_log.day, the
-- local day it was admitted on; else DATE(created_at)). A row with an
-- admission id and no queue item counts its request too (a queued request
-- was counted when its queue row was written). A request of a user deleted
-- meanwhile is logged but counts nowhere. Stands aside while @relay_batch
-- is set: relay_finish_batch adds a whole batch's counts in one upsert.

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
