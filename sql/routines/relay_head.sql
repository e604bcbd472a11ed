-- relay_head.sql - procedure: the first due waiting item, dead waiters closed.
-- Called by the routines relay_wait, relay_wake.
--
-- The first due waiting item in the one order, skipping (and closing) inline
-- rows whose waiter died. o_id NULL = nothing waits.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_head(IN p_maxwait INT, OUT o_id BIGINT UNSIGNED,
    OUT o_inline TINYINT, OUT o_conn BIGINT UNSIGNED)
BEGIN
  DECLARE v_lock VARCHAR(128);
  DECLARE v_old TINYINT;
  DECLARE n INT DEFAULT 0;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  head: LOOP
    SET v_none = 0, o_id = NULL;
    SELECT id, inline_wait, wait_conn, worker,
           added_at < NOW() - INTERVAL (p_maxwait + 60) SECOND
      INTO o_id, o_inline, o_conn, v_lock, v_old
      FROM queue WHERE status = 'waiting' AND (not_before IS NULL OR not_before <= NOW())
      ORDER BY priority DESC, id LIMIT 1;
    IF v_none = 1 THEN
      SET o_id = NULL;
      LEAVE head;
    END IF;
    IF o_inline = 0 OR (v_old = 0 AND v_lock IS NOT NULL AND
                        IS_USED_LOCK(v_lock) = o_conn) THEN
      LEAVE head;
    END IF;
    CALL relay_close_dead(o_id, 'client gone while queued');
    SET n = n + 1;
    IF n >= 20 THEN
      SET o_id = NULL;
      LEAVE head;
    END IF;
  END LOOP;
END //

DELIMITER ;
