-- relay_sweep_one.sql - procedure: end one in-flight entry whose process is
-- gone.
-- Called by src/ops/meterd.c (md_sweep_orphans).
-- Called by the routines relay_sweep.
--
-- Ends one in-flight entry whose relay process is gone: takes its lock (so
-- its owner, should it come back, waits for this to finish), writes the
-- request's one log row unless the request is already durable (a log row
-- or a queue row with its id: the owner died between that commit and
-- removing the entry), and removes the entry. Safe to run twice.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_sweep_one(IN p_id BIGINT UNSIGNED)
sweep: BEGIN
  DECLARE v_lock VARCHAR(128) DEFAULT NULL;
  DECLARE v_user INT UNSIGNED;
  DECLARE v_key INT UNSIGNED;
  DECLARE v_day DATE;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_lock = NULL;
  SELECT lock_name INTO v_lock FROM inflight WHERE id = p_id;
  IF v_lock IS NULL OR GET_LOCK(v_lock, 0) <> 1 THEN
    LEAVE sweep;
  END IF;
  SET v_user = NULL;
  SELECT user_id, key_id, day INTO v_user, v_key, v_day FROM inflight WHERE id = p_id;
  IF v_user IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM queue WHERE admit_id = p_id) THEN
      INSERT IGNORE INTO request_log (user_id, key_id, admit_id, route, format, model,
          stream, http_status, error, day)
        VALUES (v_user, v_key, p_id, 'call', '', '', 0, 500, relay_swept_why(), v_day);
    END IF;
    DELETE FROM inflight WHERE id = p_id;
  END IF;
  DO RELEASE_LOCK(v_lock);
END //

DELIMITER ;
