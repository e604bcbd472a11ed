-- relay_held_slot.sql - function: the slot lock this connection holds.
-- Used by the routines relay_wait_resume.
--
-- The slot lock of any backend this connection holds, or NULL.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_held_slot(p_prefix VARCHAR(64), p_slots INT)
    RETURNS VARCHAR(128) NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_n INT;
  DECLARE i INT;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_found VARCHAR(128) DEFAULT NULL;
  DECLARE cur CURSOR FOR SELECT 0, p_slots FROM DUAL
    UNION ALL SELECT id, slots FROM backends;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b, v_n;
    IF v_done = 1 OR v_found IS NOT NULL THEN
      LEAVE scan;
    END IF;
    SET i = 1;
    WHILE i <= v_n AND v_found IS NULL DO
      IF IS_USED_LOCK(relay_slot_name(p_prefix, v_b, i)) = CONNECTION_ID() THEN
        SET v_found = relay_slot_name(p_prefix, v_b, i);
      END IF;
      SET i = i + 1;
    END WHILE;
  END LOOP;
  CLOSE cur;
  RETURN v_found;
END //

DELIMITER ;
