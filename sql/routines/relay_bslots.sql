-- relay_bslots.sql - function: the slots a backend may use now.
-- Used by the routines relay_grab, relay_take_polled, relay_take_slot,
-- relay_wake.
--
-- The slots backend p_b may use now: 0 while it cools down, 1 (one probe)
-- after its cool-down until a success clears it, else its own count.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_bslots(p_b INT UNSIGNED, p_slots INT)
    RETURNS INT NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_n INT DEFAULT 0;
  DECLARE v_cool DATETIME(3) DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_cool = NULL;
  IF p_b = 0 THEN
    SET v_n = p_slots;
  ELSE
    SELECT slots INTO v_n FROM backends WHERE id = p_b;
  END IF;
  SET v_cool = NULL;
  SELECT cool_until INTO v_cool FROM backend_state WHERE backend_id = p_b;
  IF v_cool IS NOT NULL THEN
    RETURN IF(v_cool > NOW(3), 0, LEAST(v_n, 1));
  END IF;
  RETURN v_n;
END //

DELIMITER ;
