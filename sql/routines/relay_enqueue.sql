-- relay_enqueue.sql - procedure: register a queue item (polled or inline).
-- Called by src/relay/queue.c (queue_push).
--
-- Registers a queue item: the enqueue lock serialises the counts and the
-- insert across processes and hosts so queue_max and the user's max_queued
-- are never overshot. An inline waiter (p_waitlock not NULL) takes its
-- liveness lock before its row exists. With p_admit, the queue row and the
-- request's count in daily_usage.requests are one transaction (the request
-- becomes durable with its queue row), and the in-flight entry goes after
-- it. One row: id (0 if refused), refusal (0 ok, 1 queue full, 2 the
-- user's max_queued, 3 enqueue lock not had in 10 s, or the request already
-- closed by a sweep: this process lost its connection since its admission).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_enqueue(IN p_prefix VARCHAR(64),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_prio INT,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_route VARCHAR(32), IN p_headers TEXT, IN p_body LONGBLOB,
    IN p_queue_max INT, IN p_waitlock VARCHAR(128), IN p_admit BIGINT UNSIGNED)
enq: BEGIN
  DECLARE v_max INT UNSIGNED DEFAULT 0;
  DECLARE v_id BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_lock VARCHAR(128) DEFAULT CONCAT(p_prefix, ':enqueue');
  DECLARE v_day DATE DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_max = 0;
  -- a failure (a deadlock victim, a late kill) leaves nothing: no row,
  -- no count, no lock, so the caller may run it again
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    DO RELEASE_LOCK(v_lock);
    IF p_waitlock IS NOT NULL THEN DO RELEASE_LOCK(p_waitlock); END IF;
    RESIGNAL;
  END;
  IF p_queue_max <= 0 THEN
    SELECT 0, 1;
    LEAVE enq;
  END IF;
  IF p_waitlock IS NOT NULL AND GET_LOCK(p_waitlock, 0) <> 1 THEN
    SELECT 0, 3;
    LEAVE enq;
  END IF;
  IF GET_LOCK(v_lock, 10) <> 1 THEN
    IF p_waitlock IS NOT NULL THEN DO RELEASE_LOCK(p_waitlock); END IF;
    SELECT 0, 3;
    LEAVE enq;
  END IF;
  SELECT max_queued INTO v_max FROM users WHERE id = p_user;
  -- 0 is the default, a quarter of the queue (at least 1), so one
  -- member cannot fill it for everyone (issue 25.9)
  IF v_max = 0 THEN
    SET v_max = GREATEST(1, p_queue_max DIV 4);
  END IF;
  IF (SELECT COUNT(*) FROM queue WHERE status = 'waiting') >= p_queue_max THEN
    DO RELEASE_LOCK(v_lock);
    IF p_waitlock IS NOT NULL THEN DO RELEASE_LOCK(p_waitlock); END IF;
    SELECT 0, 1;
    LEAVE enq;
  END IF;
  IF v_max > 0 AND (SELECT COUNT(*) FROM queue WHERE status = 'waiting'
                    AND user_id = p_user) >= v_max THEN
    DO RELEASE_LOCK(v_lock);
    IF p_waitlock IS NOT NULL THEN DO RELEASE_LOCK(p_waitlock); END IF;
    SELECT 0, 2;
    LEAVE enq;
  END IF;
  IF p_admit IS NOT NULL THEN
    SELECT day INTO v_day FROM inflight WHERE id = p_admit;
    IF v_day IS NULL AND EXISTS (SELECT 1 FROM request_log WHERE admit_id = p_admit) THEN
      DO RELEASE_LOCK(v_lock);
      IF p_waitlock IS NOT NULL THEN DO RELEASE_LOCK(p_waitlock); END IF;
      SELECT 0, 3;
      LEAVE enq;
    END IF;
  END IF;
  START TRANSACTION;
  INSERT INTO queue (user_id, key_id, priority, format, model, stream, inline_wait,
      route, headers, body, worker, wait_conn, admit_id)
    VALUES (p_user, p_key, p_prio, p_format, p_model, p_stream,
      p_waitlock IS NOT NULL, p_route, p_headers, p_body, p_waitlock,
      IF(p_waitlock IS NULL, NULL, CONNECTION_ID()), p_admit);
  SET v_id = LAST_INSERT_ID();
  IF p_admit IS NOT NULL THEN
    INSERT INTO daily_usage (user_id, day, requests)
      VALUES (p_user, COALESCE(v_day, CURDATE()), 1)
      ON DUPLICATE KEY UPDATE requests = requests + 1;
  END IF;
  COMMIT;
  DO RELEASE_LOCK(v_lock);
  CALL relay_unreserve(p_admit, p_prefix);
  IF p_waitlock IS NULL THEN
    CALL relay_release_user(p_prefix, p_user);
  END IF;
  SELECT v_id, 0;
END //

DELIMITER ;
