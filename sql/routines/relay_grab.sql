-- relay_grab.sql - procedure: take a free slot of one backend.
-- Called by the routines relay_take_polled, relay_take_slot.
--
-- Takes a free slot of backend p_b (trying from p_first), or o_slot NULL.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_grab(IN p_prefix VARCHAR(64), IN p_b INT UNSIGNED,
    IN p_slots INT, IN p_first INT, OUT o_slot VARCHAR(128))
BEGIN
  DECLARE v_n INT DEFAULT relay_bslots(p_b, p_slots);
  DECLARE i INT DEFAULT 0;
  DECLARE v_name VARCHAR(128);
  SET o_slot = NULL;
  WHILE i < v_n AND o_slot IS NULL DO
    SET v_name = relay_slot_name(p_prefix, p_b, (p_first - 1 + i) MOD v_n + 1);
    IF GET_LOCK(v_name, 0) = 1 THEN
      SET o_slot = v_name;
    END IF;
    SET i = i + 1;
  END WHILE;
END //

DELIMITER ;
