-- relay_backend_fail.sql - procedure: count a failed try, cool the backend
-- down.
-- Called by src/admin/bkadmin.c (bk_test), src/relay/backend.c
-- (backend_note_fail).
--
-- A failed try on backend p_b: counts it, and from the p_threshold-th
-- failure in a row cools the backend down for p_base * 2^(extra failures)
-- seconds (at most p_max); an upstream Retry-After (p_ra > 0) cools it at
-- least that long.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_backend_fail(IN p_b INT UNSIGNED,
    IN p_status SMALLINT UNSIGNED, IN p_error VARCHAR(300), IN p_ra INT,
    IN p_threshold INT, IN p_base INT, IN p_max INT)
BEGIN
  INSERT INTO backend_state (backend_id, fails, last_status, last_error, last_fail_at)
    VALUES (p_b, 1, p_status, p_error, NOW())
    ON DUPLICATE KEY UPDATE fails = fails + 1, last_status = VALUES(last_status),
      last_error = VALUES(last_error), last_fail_at = NOW();
  UPDATE backend_state SET cool_until = NOW(3) + INTERVAL GREATEST(
      IF(fails >= p_threshold,
         LEAST(p_max, p_base * POW(2, LEAST(fails - p_threshold, 20))), 0),
      GREATEST(p_ra, 0)) SECOND
    WHERE backend_id = p_b AND (fails >= p_threshold OR p_ra > 0);
END //

DELIMITER ;
