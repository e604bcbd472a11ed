-- relay_bfree.sql - function: the first free slot of a backend.
-- Used by the routines relay_take_polled, relay_take_slot, relay_wake.
--
-- The first free slot of backend p_b trying from p_first (0 if none).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_bfree(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_n INT, p_first INT) RETURNS INT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE s INT;
  WHILE i < p_n DO
    SET s = (p_first - 1 + i) MOD p_n + 1;
    IF IS_FREE_LOCK(relay_slot_name(p_prefix, p_b, s)) = 1 THEN
      RETURN s;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN 0;
END //

DELIMITER ;
