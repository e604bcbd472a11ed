-- relay_cap_free.sql - function.
-- 1 when one of the user's p_maxc concurrency locks is free.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_cap_free(p_prefix VARCHAR(64), p_user INT UNSIGNED,
    p_maxc INT UNSIGNED) RETURNS TINYINT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < p_maxc DO
    IF IS_FREE_LOCK(CONCAT(p_prefix, ':user:', p_user, ':', i + 1)) = 1 THEN
      RETURN 1;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN p_maxc = 0;
END //

DELIMITER ;
