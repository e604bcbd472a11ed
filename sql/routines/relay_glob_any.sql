-- relay_glob_any.sql - function: does a model match a list of names and globs.
-- Used by the routines relay_serves, relay_take_slot.
--
-- 1 when p_model matches one of the comma-separated patterns in p_list
-- (exact names, '*' any run of characters, byte for byte); with p_map = 1
-- the entries are "pattern=target" and only the pattern counts.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_glob_any(
    p_list TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    p_model VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    p_map TINYINT) RETURNS TINYINT DETERMINISTIC NO SQL
BEGIN
  DECLARE v_rest TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT p_list;
  DECLARE v_pat TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
  DECLARE v_pos INT;
  WHILE v_rest IS NOT NULL AND v_rest <> '' DO
    SET v_pos = LOCATE(',', v_rest);
    IF v_pos = 0 THEN
      SET v_pat = v_rest, v_rest = NULL;
    ELSE
      SET v_pat = LEFT(v_rest, v_pos - 1), v_rest = SUBSTRING(v_rest, v_pos + 1);
    END IF;
    IF p_map = 1 THEN
      SET v_pat = SUBSTRING_INDEX(v_pat, '=', 1);
    END IF;
    SET v_pat = TRIM(v_pat);
    IF v_pat <> '' AND p_model LIKE REPLACE(REPLACE(REPLACE(REPLACE(v_pat,
        '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%') ESCAPE '\\' THEN
      RETURN 1;
    END IF;
  END WHILE;
  RETURN 0;
END //

DELIMITER ;
