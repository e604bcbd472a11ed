-- relay_cancel.sql - procedure: cancel one waiting queue item.
-- Called by src/admin/qadmin.c (qadmin_cancel_one).
--
-- Cancels one waiting item (relayctl queue cancel / user del, the console):
-- failed with p_why and HTTP 503. A polled item gets its one request_log
-- row here, on the day it was queued, in the same transaction (its request
-- was counted when it was admitted, so it ends as an error, as README says);
-- an inline waiter writes its own row when it sees the cancellation. One
-- row: 1 if the item was cancelled, else 0.

DELIMITER //

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

DELIMITER ;
