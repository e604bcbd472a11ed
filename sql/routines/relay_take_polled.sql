-- relay_take_polled.sql - procedure: a queue worker's take: a polled item
-- and its slot.
-- Called by the routines relay_wait.
--
-- A queue worker's take: the first backend (by priority) with a free slot
-- whose head (relay_head_for) is a polled item; o_item = that item, o_slot
-- its slot.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_take_polled(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_first INT, IN p_dflt INT, OUT o_slot VARCHAR(128), OUT o_item BIGINT UNSIGNED)
BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_p INT;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_verdict TINYINT;
  DECLARE n INT DEFAULT 0;
  DECLARE cur CURSOR FOR
    SELECT 0, 0 FROM DUAL WHERE p_dflt <> 0
    UNION ALL SELECT id, priority FROM backends WHERE enabled = 1
    ORDER BY 2 DESC, 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  SET o_slot = NULL, o_item = NULL;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b, v_p;
    IF v_done = 1 OR o_slot IS NOT NULL THEN
      LEAVE scan;
    END IF;
    IF relay_bfree(p_prefix, v_b, relay_bslots(v_b, p_slots), 1) = 0 THEN
      ITERATE scan;
    END IF;
    CALL relay_head_for(p_prefix, v_b, p_dflt, v_head, v_inline, v_conn);
    SET v_done = 0;
    -- an item its key or user may no longer send, or over its user's
    -- token limit, ends here: never upstream, never holding a slot
    WHILE v_head IS NOT NULL AND v_inline = 0 AND n < 20 DO
      SET v_verdict = relay_verdict(v_head);
      IF v_verdict = 0 THEN
        SET n = 20;
      ELSE
        CALL relay_deny(v_head, v_verdict);
        CALL relay_head_for(p_prefix, v_b, p_dflt, v_head, v_inline, v_conn);
        SET v_done = 0, n = n + 1;
      END IF;
    END WHILE;
    SET n = 0;
    IF v_head IS NOT NULL AND v_inline = 0 THEN
      CALL relay_grab(p_prefix, v_b, p_slots, p_first, o_slot);
      IF o_slot IS NOT NULL THEN
        SET o_item = v_head;
      END IF;
    END IF;
  END LOOP;
  CLOSE cur;
END //

DELIMITER ;
