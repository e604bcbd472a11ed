-- 011_wait_sleep_apart.sql - a waiter sleeps in a statement of its own.
--
-- 010 slept inside CALL relay_wait and was woken by KILL QUERY ID of that
-- DO SLEEP. Two slot holders that free their slots at the same moment both
-- find the same sleeper; the second KILL can land after the first one ended
-- the sleep but before that DO SLEEP statement is over, and the kill flag
-- then stays set for the rest of the CALL: the claim that follows (the
-- queue row already 'processing', the slot and item locks taken) is cut off
-- with "Query execution was interrupted", and the item stays claimed by a
-- caller that never got it (seen in bench/run: one of 12 items stuck until
-- its worker exited). The same could cut a waker's relay_finish short,
-- since relay_wake spun on DO SLEEP(0.001) and so looked like a sleeper.
--
-- Now relay_wait never sleeps: it checks, takes a free slot if it is first,
-- or answers 'wait' with how long to nap; the caller naps with a top-level
-- `DO SLEEP(?)`, which a waker may kill (MariaDB clears a query kill at the
-- start of the next top-level statement, and a KILL QUERY ID that arrives
-- later names a query that is over: "Unknown query id", swallowed). The
-- waker no longer sleeps at all: it looks for the sleeper a few times in a
-- row. A wake that misses (the waiter between its check and its nap) costs
-- at most the nap, which is short for the first in line.

DELIMITER //

-- One step of waiting. p_id > 0: the caller's own inline row; p_id = 0: a
-- queue worker asking for polled work. If the caller is first in line and a
-- slot is free, takes the slot (and for a worker claims the polled item,
-- holding the item lock '<prefix>:item:<id>'), marks the row processing and
-- wakes the next in line. One row: slot lock name (NULL if none), state
-- ('got', 'wait', 'gone' = the row is no longer waiting), item id, and for
-- 'wait' the milliseconds to nap before the next step (p_nap_ms, at most
-- 500 when first in line: only a lost wake waits that long).
CREATE OR REPLACE PROCEDURE relay_wait(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT, IN p_nap_ms INT,
    IN p_maxwait INT)
step: BEGIN
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item VARCHAR(128);
  DECLARE v_mine TINYINT DEFAULT 0;
  DECLARE i INT DEFAULT 0;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  IF p_id > 0 THEN
    SELECT status INTO v_status FROM queue WHERE id = p_id;
    IF v_none = 1 OR v_status <> 'waiting' THEN
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  END IF;
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  SET v_mine = v_head IS NOT NULL AND
               ((p_id > 0 AND v_head = p_id) OR (p_id = 0 AND v_inline = 0));
  IF v_mine THEN
    WHILE i < p_slots AND v_slot IS NULL DO
      IF GET_LOCK(CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD p_slots + 1), 0) = 1 THEN
        SET v_slot = CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD p_slots + 1);
      END IF;
      SET i = i + 1;
    END WHILE;
  END IF;
  IF v_slot IS NULL THEN
    SELECT NULL, 'wait', p_id, IF(v_mine, LEAST(p_nap_ms, 500), p_nap_ms);
    LEAVE step;
  END IF;
  IF p_id > 0 THEN
    UPDATE queue SET status = 'processing', started_at = NOW(), attempts = attempts + 1
      WHERE id = p_id AND status = 'waiting';
    IF ROW_COUNT() <> 1 THEN
      DO RELEASE_LOCK(v_slot);
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  ELSE
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
      SELECT NULL, 'wait', 0, 0;
      LEAVE step;
    END IF;
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
  SELECT v_slot, 'got', IF(p_id > 0, p_id, v_head), 0;
END //

-- Wakes whoever should take a free slot now: the first in line if it waits
-- inline, else a sleeping queue worker. Best effort by design (a sleeper
-- missed here wakes at the end of its nap): errors are swallowed. It never
-- sleeps itself, so nobody mistakes a waker for a sleeper.
CREATE OR REPLACE PROCEDURE relay_wake(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT)
wake: BEGIN
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_q BIGINT UNSIGNED;
  DECLARE n INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_q = NULL;
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
  IF NOT EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
    LEAVE wake;
  END IF;
  IF relay_free_slot(p_prefix, p_slots, 1) = 0 THEN
    LEAVE wake;
  END IF;
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  IF v_head IS NULL THEN
    LEAVE wake;
  END IF;
  -- The waiter may be between its check and its nap: look a few times.
  WHILE n < 20 DO
    SET v_q = NULL;
    IF v_inline = 0 THEN
      SELECT p.QUERY_ID INTO v_q FROM information_schema.PROCESSLIST p
        JOIN queue_workers w ON w.conn_id = p.ID
        WHERE p.STATE = 'User sleep' LIMIT 1;
    ELSE
      SELECT QUERY_ID INTO v_q FROM information_schema.PROCESSLIST
        WHERE ID = v_conn AND STATE = 'User sleep';
    END IF;
    IF v_q IS NOT NULL THEN
      KILL QUERY ID v_q;
      LEAVE wake;
    END IF;
    SET n = n + 1;
  END WHILE;
END //

-- The end of a relay_wait that a late kill cut short (1317 "Query
-- execution was interrupted": a KILL QUERY ID aimed at the caller's nap can
-- still flag the statements right after it). Whatever the cut-off claim had
-- done is finished or undone: an inline row (p_id > 0) already
-- 'processing' with a slot of this connection is the caller's ('got'); a
-- slot taken for a row still waiting is given back ('wait'). For a queue
-- worker (p_id = 0) an item whose lock this connection holds is the
-- worker's ('got', with its slot); else every lock it holds is given back
-- (a waiting worker holds nothing else). Same row as relay_wait.
CREATE OR REPLACE PROCEDURE relay_wait_resume(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_maxwait INT)
step: BEGIN
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE i INT DEFAULT 1;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  WHILE i <= p_slots AND v_slot IS NULL DO
    IF IS_USED_LOCK(CONCAT(p_prefix, ':slot:', i)) = CONNECTION_ID() THEN
      SET v_slot = CONCAT(p_prefix, ':slot:', i);
    END IF;
    SET i = i + 1;
  END WHILE;
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
