-- relay_close_dead.sql - procedure: close the inline row of a waiter that
-- died.
-- Called by src/relay/queue.c (queue_recover_inline).
-- Called by the routines relay_head.
--
-- Closes a waiting or processing inline row whose client process is gone,
-- with its one request_log row (the request was admitted and counted; it
-- ends as an error). Safe to run twice: the row update and the unique
-- request_log.queue_id let only one closer write.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_close_dead(IN p_id BIGINT UNSIGNED,
    IN p_why VARCHAR(255))
BEGIN
  UPDATE queue SET status = 'failed', completed_at = NOW(), error_message = p_why,
      http_status = 499, metered = 1
    WHERE id = p_id AND inline_wait = 1 AND status IN ('waiting', 'processing');
  IF ROW_COUNT() = 1 THEN
    INSERT IGNORE INTO request_log (user_id, key_id, queue_id, route, format, model,
        stream, http_status, error)
      SELECT user_id, key_id, id, route, format, model, stream, 499, p_why
        FROM queue WHERE id = p_id;
  END IF;
END //

DELIMITER ;
