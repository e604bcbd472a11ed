-- 012_hardening.sql - one day per request (issue 12).
-- A request's tokens and errors used to go to the day it finished
-- (DATE(created_at)) while its request was reserved on the day it was
-- admitted: a stream running over midnight split across two days. Now
-- everything of a request counts on the day it was admitted:
-- request_log.day is that day, and the usage trigger uses it.

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS day DATE NULL AFTER created_at;

DROP TRIGGER IF EXISTS request_log_usage;

CREATE TRIGGER request_log_usage AFTER INSERT ON request_log
  FOR EACH ROW
  INSERT INTO daily_usage (user_id, day, tokens, errors)
  SELECT id, COALESCE(NEW.day, DATE(NEW.created_at)), NEW.total_tokens,
         IF(NEW.error IS NOT NULL OR NEW.http_status >= 400, 1, 0)
  FROM users WHERE id = NEW.user_id
  ON DUPLICATE KEY UPDATE tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);

DELIMITER //

-- Cancels one waiting item (relayctl queue cancel / user del, the console):
-- failed with p_why and HTTP 503. A polled item gets its one request_log
-- row here, on the day it was queued, in the same transaction (its request
-- was counted when it was admitted, so it ends as an error, as README says);
-- an inline waiter writes its own row when it sees the cancellation. One
-- row: 1 if the item was cancelled, else 0.
CREATE OR REPLACE PROCEDURE relay_cancel(IN p_id BIGINT UNSIGNED,
    IN p_why VARCHAR(255))
BEGIN
  DECLARE v_n INT DEFAULT 0;
  START TRANSACTION;
  UPDATE queue SET status = 'failed', completed_at = NOW(), error_message = p_why,
      http_status = 503, metered = IF(inline_wait = 1, metered, 1)
    WHERE id = p_id AND status = 'waiting';
  SET v_n = ROW_COUNT();
  IF v_n = 1 THEN
    INSERT IGNORE INTO request_log (user_id, key_id, queue_id, route, format, model,
        stream, http_status, error, day)
      SELECT user_id, key_id, id, route, format, model, stream, 503, p_why, DATE(added_at)
        FROM queue WHERE id = p_id AND inline_wait = 0;
  END IF;
  COMMIT;
  SELECT v_n;
END //

-- 010's relay_finish plus p_day, the local day the request was admitted
-- on (the binaries pass the day relay_admit reserved on). NULL: a queued
-- item's day is the day it was queued (its request was reserved then),
-- else today.
CREATE OR REPLACE PROCEDURE relay_finish(IN p_lock VARCHAR(128),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_queue BIGINT UNSIGNED,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_status SMALLINT UNSIGNED, IN p_prompt BIGINT UNSIGNED,
    IN p_completion BIGINT UNSIGNED, IN p_total BIGINT UNSIGNED,
    IN p_known TINYINT, IN p_latency INT UNSIGNED, IN p_error VARCHAR(1024),
    IN p_route VARCHAR(32), IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT, IN p_day DATE)
BEGIN
  DECLARE v_wl VARCHAR(128) DEFAULT NULL;
  DECLARE v_inline TINYINT DEFAULT 0;
  DECLARE v_day DATE DEFAULT p_day;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_inline = 0;
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  IF p_queue IS NOT NULL THEN
    SELECT inline_wait, worker, COALESCE(p_day, DATE(added_at))
      INTO v_inline, v_wl, v_day FROM queue WHERE id = p_queue;
  END IF;
  IF v_inline = 1 THEN
    UPDATE queue SET status = IF(p_error IS NULL AND p_status < 400, 'completed', 'failed'),
        completed_at = NOW(), http_status = p_status, error_message = p_error, metered = 1
      WHERE id = p_queue AND status IN ('waiting', 'processing');
    IF v_wl IS NOT NULL AND IS_USED_LOCK(v_wl) = CONNECTION_ID() THEN
      DO RELEASE_LOCK(v_wl);
    END IF;
  END IF;
  CALL relay_release_user(p_prefix, p_user);
  -- A queue worker releases its slot after this (relay_release wakes then).
  IF p_prefix IS NOT NULL AND (p_lock IS NOT NULL OR v_inline = 1) THEN
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
  INSERT INTO request_log (user_id, key_id, queue_id, route, format, model, stream,
      http_status, prompt_tokens, completion_tokens, total_tokens, usage_known,
      latency_ms, error, day)
    VALUES (p_user, p_key, p_queue, p_route, p_format, p_model, p_stream, p_status,
      p_prompt, p_completion, p_total, p_known, p_latency, p_error,
      COALESCE(v_day, CURDATE()));
END //

DELIMITER ;
