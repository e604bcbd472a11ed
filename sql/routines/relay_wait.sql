-- relay_wait.sql - procedure: one step of waiting for a slot.
-- Called by src/ops/worker.c (worker_step), src/relay/dispatch.c
-- (dispatch_step).
--
-- One step of waiting. p_id > 0: the caller's own inline row, which takes
-- a slot of any backend that serves its item and for which it is first in
-- line; p_id = 0: a queue worker asking for polled work, which takes a
-- polled item that is first in line for a backend with a free slot (and
-- holds the item lock '<prefix>:item:<id>'). p_dflt: the default backend's
-- formats. Never sleeps: the caller naps with a top-level DO SLEEP(?), which
-- a waker may kill (a kill inside the CALL could cut the claim short). One
-- row: slot lock name (NULL if none), state ('got', 'wait', 'gone' = the
-- row is no longer waiting), item id, and for 'wait' the milliseconds to
-- nap (p_nap_ms, at most 500 when first in line: only a lost wake waits
-- that long).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_wait(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT, IN p_nap_ms INT,
    IN p_maxwait INT, IN p_dflt INT)
step: BEGIN
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_format VARCHAR(16);
  DECLARE v_model VARCHAR(255);
  DECLARE v_prio INT;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item VARCHAR(128);
  DECLARE v_mine TINYINT DEFAULT 0;
  DECLARE v_why INT;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE v_verdict TINYINT DEFAULT 0;
  DECLARE v_user INT UNSIGNED;
  DECLARE v_maxc INT UNSIGNED DEFAULT 0;
  DECLARE v_ul VARCHAR(128) DEFAULT NULL;
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  IF p_id > 0 THEN
    SELECT status, format, model, priority INTO v_status, v_format, v_model, v_prio
      FROM queue WHERE id = p_id;
    IF v_none = 1 OR v_status <> 'waiting' THEN
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  END IF;
  -- the global head: closes rows of dead waiters on the way
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  IF p_id > 0 THEN
    CALL relay_take_slot(p_prefix, p_slots, p_first, p_dflt, v_format, v_model,
                         v_prio, p_id, NULL, v_slot, v_why, v_mine);
  ELSE
    CALL relay_take_polled(p_prefix, p_slots, p_first, p_dflt, v_slot, v_head);
    SET v_mine = v_head IS NOT NULL;
  END IF;
  IF v_slot IS NULL THEN
    SELECT NULL, 'wait', p_id, IF(v_mine, LEAST(p_nap_ms, 500), p_nap_ms);
    LEAVE step;
  END IF;
  IF p_id > 0 THEN
    -- its turn: the key, the user and the token limit once more (023);
    -- refused, the row is closed here (so the wake below finds the next
    -- in line) and the waiter answers and writes its one log row
    SET v_verdict = relay_verdict(p_id);
    IF v_verdict <> 0 THEN
      UPDATE queue SET status = 'failed', completed_at = NOW(),
          http_status = IF(v_verdict = 3, 429, 503), error_message = relay_deny_why(v_verdict)
        WHERE id = p_id AND status = 'waiting';
      DO RELEASE_LOCK(v_slot);
      CALL relay_wake(p_prefix, p_slots, p_maxwait);
      SELECT NULL, IF(v_verdict = 3, 'tokens', 'gone'), p_id, 0;
      LEAVE step;
    END IF;
    UPDATE queue SET status = 'processing', started_at = NOW(), attempts = attempts + 1
      WHERE id = p_id AND status = 'waiting';
    IF ROW_COUNT() <> 1 THEN
      DO RELEASE_LOCK(v_slot);
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  ELSE
    -- The user's concurrency cap counts what a worker forwards (023): one
    -- of the user's locks first (relay_head_for passed over items whose
    -- user had none free; one taken meanwhile: look again at once). Let
    -- go of by relay_release, or with the connection.
    SELECT q.user_id, COALESCE(u.max_concurrent, 0) INTO v_user, v_maxc
      FROM queue q LEFT JOIN users u ON u.id = q.user_id WHERE q.id = v_head;
    WHILE i < v_maxc AND v_ul IS NULL DO
      IF GET_LOCK(CONCAT(p_prefix, ':user:', v_user, ':', i + 1), 0) = 1 THEN
        SET v_ul = CONCAT(p_prefix, ':user:', v_user, ':', i + 1);
      END IF;
      SET i = i + 1;
    END WHILE;
    IF v_maxc > 0 AND v_ul IS NULL THEN
      DO RELEASE_LOCK(v_slot);
      SELECT NULL, 'wait', 0, 0;
      LEAVE step;
    END IF;
    SET @relay_ulock = v_ul;
    -- The worker's claim, as queue_claim did it: the item lock first, then
    -- the row, so a recoverer never sees it without its lock.
    SET v_item = CONCAT(p_prefix, ':item:', v_head);
    IF GET_LOCK(v_item, 0) = 1 THEN
      UPDATE queue SET status = 'processing', started_at = NOW(),
          attempts = attempts + 1, worker = v_item
        WHERE id = v_head AND status = 'waiting';
      IF ROW_COUNT() <> 1 THEN
        DO RELEASE_LOCK(v_item);
      END IF;
    END IF;
    IF IS_USED_LOCK(v_item) IS NULL OR IS_USED_LOCK(v_item) <> CONNECTION_ID() THEN
      -- another worker had it: try again at once
      DO RELEASE_LOCK(v_slot);
      IF v_ul IS NOT NULL THEN
        DO RELEASE_LOCK(v_ul);
        SET @relay_ulock = NULL;
      END IF;
      SELECT NULL, 'wait', 0, 0;
      LEAVE step;
    END IF;
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
  SELECT v_slot, 'got', IF(p_id > 0, p_id, v_head), 0;
END //

DELIMITER ;
