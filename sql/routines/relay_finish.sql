-- relay_finish.sql - procedure: a request's finish and its one log row.
-- Called by src/meter/meter.c (meter_record).
--
-- Releases the slot (p_lock), wakes the next in line, and writes the
-- request's one log row (relay_settle) with p_backend (JSON: the serving
-- backend, its failed tries into request_tries, whether it was translated)
-- and p_admit (the admission id, NULL for a queue worker's item). An inline
-- row (p_queue) is closed with the request's outcome in the same
-- transaction as its log row; the in-flight entry goes after that commit,
-- then the liveness and user locks. Inside a caller's transaction (a queue
-- worker stores its result and meters in one) it joins that one. p_day: the
-- day relay_admit reserved on (NULL: a queued item's day is the day it was
-- queued, else today).
-- Whether anyone waits and whether the serving backend has a failure state
-- to clear are one read; a direct request (no queue row) lets go of every
-- named lock of its connection at the end, which is what it holds (the
-- user's concurrency lock among them) without reading the user. An inline
-- waiter whose connection was re-made while it waited (its client left
-- during a statement: src/io/db.c drops the connection) no longer holds its
-- row's lock; its row is closed here first and the wake comes after, or the
-- wake would close it as dead ("client gone") before it is metered.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_finish(IN p_lock VARCHAR(128),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_queue BIGINT UNSIGNED,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_status SMALLINT UNSIGNED, IN p_prompt BIGINT UNSIGNED,
    IN p_completion BIGINT UNSIGNED, IN p_total BIGINT UNSIGNED,
    IN p_known TINYINT, IN p_latency INT UNSIGNED, IN p_error VARCHAR(1024),
    IN p_route VARCHAR(32), IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT, IN p_day DATE, IN p_backend TEXT, IN p_admit BIGINT UNSIGNED)
BEGIN
  DECLARE v_wl VARCHAR(128) DEFAULT NULL;
  DECLARE v_inline TINYINT DEFAULT 0;
  DECLARE v_day DATE DEFAULT p_day;
  DECLARE v_own TINYINT DEFAULT 0;
  DECLARE v_bid INT UNSIGNED DEFAULT JSON_VALUE(p_backend, '$.id');
  DECLARE v_ntries INT DEFAULT COALESCE(JSON_LENGTH(p_backend, '$.tries'), 0);
  DECLARE v_log BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_waiting TINYINT DEFAULT 0;
  DECLARE v_bad TINYINT DEFAULT 0;
  DECLARE v_late TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_inline = 0;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own = 1 THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  IF p_queue IS NOT NULL THEN
    SELECT inline_wait, worker, COALESCE(p_day, DATE(added_at))
      INTO v_inline, v_wl, v_day FROM queue WHERE id = p_queue;
  END IF;
  -- a success clears the backend's failure state; looked at with a plain
  -- read first, since even an UPDATE that matches nothing is a read-write
  -- commit for InnoDB
  SELECT EXISTS (SELECT 1 FROM queue WHERE status = 'waiting'),
         v_bid IS NOT NULL AND JSON_VALUE(p_backend, '$.ok') = 1 AND
         EXISTS (SELECT 1 FROM backend_state WHERE backend_id = v_bid AND
                 (fails > 0 OR cool_until IS NOT NULL))
    INTO v_waiting, v_bad;
  SET v_late = v_inline = 1 AND (v_wl IS NULL OR NOT IS_USED_LOCK(v_wl) <=> CONNECTION_ID());
  -- A queue worker releases its slot after this (relay_release wakes then).
  IF v_waiting = 1 AND v_late = 0 AND p_prefix IS NOT NULL AND
     (p_lock IS NOT NULL OR v_inline = 1) THEN
    -- the user's concurrency lock first (023): the wake passes over the
    -- polled items of a user whose locks are all held, this one's too
    CALL relay_release_user(p_prefix, p_user);
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
  IF v_bad = 1 THEN
    CALL relay_backend_ok(v_bid);
  END IF;
  -- Two writes (an inline row and its log row, or the log row and the
  -- failed tries of a failover) are one transaction; a direct request's
  -- one INSERT is its own (autocommit: no BEGIN/COMMIT on the hot path).
  IF (v_inline = 1 OR v_ntries > 0) AND @@in_transaction = 0 THEN
    SET v_own = 1;
    START TRANSACTION;
  END IF;
  IF v_inline = 1 THEN
    UPDATE queue SET status = IF(p_error IS NULL AND p_status < 400, 'completed', 'failed'),
        completed_at = NOW(), http_status = p_status, error_message = p_error, metered = 1
      WHERE id = p_queue AND status IN ('waiting', 'processing');
  END IF;
  CALL relay_settle(p_admit, p_prefix, p_user, p_key, p_queue, p_format, p_model,
      p_stream, p_status, p_prompt, p_completion, p_total, p_known, p_latency,
      p_error, p_route, COALESCE(v_day, CURDATE()), p_backend);
  IF v_ntries > 0 THEN
    SELECT id INTO v_log FROM request_log
      WHERE (p_admit IS NOT NULL AND admit_id = p_admit)
         OR (p_admit IS NULL AND queue_id = p_queue) ORDER BY id DESC LIMIT 1;
    INSERT INTO request_tries (log_id, try_no, backend_id, backend, http_status,
        latency_ms, error)
      SELECT v_log, t.n, t.id, COALESCE(t.name, ''), COALESCE(t.status, 0),
             COALESCE(t.ms, 0), t.error
        FROM JSON_TABLE(p_backend, '$.tries[*]' COLUMNS (
          n FOR ORDINALITY, id INT UNSIGNED PATH '$.id',
          name VARCHAR(64) PATH '$.name', status SMALLINT UNSIGNED PATH '$.status',
          ms INT UNSIGNED PATH '$.ms', error VARCHAR(300) PATH '$.error')) t
        WHERE v_log IS NOT NULL;
  END IF;
  IF v_own = 1 THEN
    COMMIT;
  END IF;
  -- relay_unreserve, inlined (a nested CALL costs more than these two)
  IF p_admit IS NOT NULL THEN
    DELETE FROM inflight WHERE id = p_admit;
    IF p_prefix IS NOT NULL THEN
      DO RELEASE_LOCK(CONCAT(p_prefix, ':req:', p_admit));
    END IF;
  END IF;
  IF v_inline = 1 AND v_wl IS NOT NULL AND IS_USED_LOCK(v_wl) = CONNECTION_ID() THEN
    DO RELEASE_LOCK(v_wl);
  END IF;
  IF v_late = 1 AND p_prefix IS NOT NULL THEN
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
  IF p_queue IS NULL AND @@in_transaction = 0 THEN
    DO RELEASE_ALL_LOCKS();
  ELSE
    CALL relay_release_user(p_prefix, p_user);
  END IF;
END //

DELIMITER ;
