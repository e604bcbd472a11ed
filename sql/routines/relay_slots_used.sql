-- relay_slots_used.sql - function: slots of a backend held now.
-- Called by src/ops/status.c (status_backends),
-- src/console/h_console_backends.c (cbk_list).
--
-- Slots of backend p_b held now (status.php, the console).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_slots_used(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_n INT) RETURNS INT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 1;
  DECLARE v_used INT DEFAULT 0;
  WHILE i <= p_n DO
    IF IS_USED_LOCK(relay_slot_name(p_prefix, p_b, i)) IS NOT NULL THEN
      SET v_used = v_used + 1;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN v_used;
END //

DELIMITER ;
