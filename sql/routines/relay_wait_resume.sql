-- relay_wait_resume.sql - procedure: finish a relay_wait that a late kill
-- cut short.
-- Called by src/ops/worker.c (worker_step), src/relay/dispatch.c
-- (dispatch_step).
--
-- The end of a relay_wait that a late kill cut short (1317 "Query
-- execution was interrupted": a KILL QUERY ID aimed at the caller's nap can
-- still flag the statements right after it). Whatever the cut-off claim had
-- done is finished or undone: an inline row (p_id > 0) already 'processing'
-- with a slot of this connection (of any backend: relay_held_slot) is the
-- caller's ('got'); a slot taken for a row still waiting is given back
-- ('wait'). For a queue worker (p_id = 0) an item whose lock this
-- connection holds is the worker's ('got', with its slot); else every lock
-- it holds is given back. Same row as relay_wait.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_wait_resume(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_maxwait INT)
step: BEGIN
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  SET v_slot = relay_held_slot(p_prefix, p_slots);
  IF p_id > 0 THEN
    SELECT status INTO v_status FROM queue WHERE id = p_id;
    IF v_slot IS NOT NULL AND v_status = 'processing' THEN
      SELECT v_slot, 'got', p_id, 0;
    ELSEIF v_status = 'waiting' THEN
      IF v_slot IS NOT NULL THEN
        DO RELEASE_LOCK(v_slot);
        CALL relay_wake(p_prefix, p_slots, p_maxwait);
      END IF;
      SELECT NULL, 'wait', p_id, 0;
    ELSE
      IF v_slot IS NOT NULL THEN
        DO RELEASE_LOCK(v_slot);
      END IF;
      SELECT NULL, 'gone', p_id, 0;
    END IF;
    LEAVE step;
  END IF;
  SELECT id INTO v_item FROM queue
    WHERE status = 'processing' AND worker LIKE CONCAT(p_prefix, ':item:%')
      AND IS_USED_LOCK(worker) = CONNECTION_ID() LIMIT 1;
  IF v_item IS NOT NULL AND v_slot IS NOT NULL THEN
    SELECT v_slot, 'got', v_item, 0;
    LEAVE step;
  END IF;
  IF v_item IS NOT NULL THEN
    UPDATE queue SET status = 'waiting', started_at = NULL, worker = NULL,
        attempts = GREATEST(attempts, 1) - 1
      WHERE id = v_item AND status = 'processing';
  END IF;
  DO RELEASE_ALL_LOCKS();
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
  SELECT NULL, 'wait', 0, 0;
END //

DELIMITER ;
