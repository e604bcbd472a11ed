-- relay_deny.sql - procedure.
-- Ends a waiting polled item refused at its turn (relay_verdict): failed
-- with 429 or 503 and its one request_log row (relay_cancel's way: its
-- request was counted when it was queued; the row counts it as an error),
-- in one transaction. Nothing when the item is no longer waiting.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_deny(IN p_id BIGINT UNSIGNED, IN p_verdict TINYINT)
BEGIN
  DECLARE v_why VARCHAR(64) DEFAULT relay_deny_why(p_verdict);
  DECLARE v_st SMALLINT UNSIGNED DEFAULT IF(p_verdict = 3, 429, 503);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    RESIGNAL;
  END;
  START TRANSACTION;
  UPDATE queue SET status = 'failed', completed_at = NOW(), error_message = v_why,
      http_status = v_st, metered = 1
    WHERE id = p_id AND status = 'waiting' AND inline_wait = 0;
  IF ROW_COUNT() = 1 THEN
    INSERT IGNORE INTO request_log (user_id, key_id, queue_id, route, format, model,
        stream, http_status, error, day)
      SELECT user_id, key_id, id, route, format, model, stream, v_st, v_why, DATE(added_at)
        FROM queue WHERE id = p_id;
  END IF;
  COMMIT;
END //

DELIMITER ;
