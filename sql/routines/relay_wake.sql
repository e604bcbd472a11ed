-- relay_wake.sql - procedure: wake whoever should take a free slot now.
-- Called by src/relay/dispatch.c (dispatch_wake).
-- Called by the routines relay_failover, relay_finish, relay_handover,
-- relay_let_go, relay_release, relay_wait, relay_wait_resume.
--
-- For each backend with a free slot (at most four), wakes the first in line
-- it can serve, with a KILL QUERY ID of its nap: that inline waiter, or for
-- a polled item any sleeping queue worker. The default backend is taken to
-- serve both formats here (the waker does not know which are configured; a
-- waiter woken for nothing looks and naps again). Best effort, errors
-- swallowed; it never sleeps itself, so nobody mistakes a waker for a
-- sleeper.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_wake(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT)
wake: BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_q BIGINT UNSIGNED;
  DECLARE v_woken VARCHAR(200) DEFAULT ',';
  DECLARE n INT DEFAULT 0;
  DECLARE cur CURSOR FOR SELECT 0 FROM DUAL UNION ALL
    SELECT id FROM backends WHERE enabled = 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
  IF NOT EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
    LEAVE wake;
  END IF;
  -- closes dead waiters' rows first, as 011 did
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  IF v_head IS NULL THEN
    LEAVE wake;
  END IF;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b;
    IF v_done = 1 OR n >= 4 THEN
      LEAVE scan;
    END IF;
    IF relay_bfree(p_prefix, v_b, relay_bslots(v_b, p_slots), 1) = 0 THEN
      ITERATE scan;
    END IF;
    CALL relay_head_for(p_prefix, v_b, 3, v_head, v_inline, v_conn);
    SET v_done = 0;
    IF v_head IS NULL OR LOCATE(CONCAT(',', v_head, ','), v_woken) > 0 THEN
      ITERATE scan;
    END IF;
    SET v_woken = CONCAT(v_woken, v_head, ','), n = n + 1;
    SET v_q = relay_sleeper(IF(v_inline = 0, NULL, v_conn));
    IF v_q IS NOT NULL THEN
      KILL QUERY ID v_q;
    END IF;
  END LOOP;
  CLOSE cur;
END //

DELIMITER ;
