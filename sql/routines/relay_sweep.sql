-- relay_sweep.sql - procedure: sweep dead in-flight entries.
-- Called by src/relay/queue.c (queue_recover).
-- Called by the routines relay_reserve.
--
-- Sweeps up to p_max dead entries (p_user 0 = anyone's).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_sweep(IN p_user INT UNSIGNED, IN p_max INT)
BEGIN
  DECLARE v_id BIGINT UNSIGNED;
  DECLARE n INT DEFAULT 0;
  DECLARE v_skip INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_id = NULL;
  sweeping: WHILE n < p_max DO
    SET v_id = NULL;
    SELECT id INTO v_id FROM inflight
      WHERE (p_user = 0 OR user_id = p_user) AND IS_USED_LOCK(lock_name) IS NULL
      ORDER BY id LIMIT 1 OFFSET v_skip;
    IF v_id IS NULL THEN
      LEAVE sweeping;
    END IF;
    CALL relay_sweep_one(v_id);
    IF EXISTS (SELECT 1 FROM inflight WHERE id = v_id) THEN
      SET v_skip = v_skip + 1;   -- its owner came back meanwhile
    END IF;
    SET n = n + 1;
  END WHILE;
END //

DELIMITER ;
