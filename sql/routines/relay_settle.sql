-- relay_settle.sql - procedure: write a request's one log row, whatever
-- happened before.
-- Called by the routines relay_finish.
--
-- The finish's durable part (replaces relay_finish's request_log INSERT):
-- the request's one log row. If a sweep already wrote the row (this relay
-- lost its connection and was taken for dead), the row is replaced with the
-- real outcome and daily_usage corrected by the difference (the request
-- itself stays counted once); if this very finish already wrote it (a
-- CALL cut short after its commit and run again), nothing is done. If the
-- request is durable in a queue row already (relay_enqueue ran but its
-- reply was lost: the client got 500), the row is written without the
-- admission id, so it does not count the request a second time. The
-- caller holds the transaction; the entry is removed after its commit
-- (relay_unreserve).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_settle(IN p_admit BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_user INT UNSIGNED, IN p_key INT UNSIGNED,
    IN p_queue BIGINT UNSIGNED, IN p_format VARCHAR(16), IN p_model VARCHAR(255),
    IN p_stream TINYINT, IN p_status SMALLINT UNSIGNED, IN p_prompt BIGINT UNSIGNED,
    IN p_completion BIGINT UNSIGNED, IN p_total BIGINT UNSIGNED,
    IN p_known TINYINT, IN p_latency INT UNSIGNED, IN p_error VARCHAR(1024),
    IN p_route VARCHAR(32), IN p_day DATE, IN p_backend TEXT)
settle: BEGIN
  DECLARE v_old BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_olderr VARCHAR(1024) DEFAULT NULL;
  DECLARE v_oldday DATE;
  DECLARE v_lock VARCHAR(128);
  DECLARE v_admit BIGINT UNSIGNED DEFAULT p_admit;
  DECLARE v_dup TINYINT DEFAULT 0;
  -- the serving backend and its tries (013), translation (014)
  DECLARE v_bid INT UNSIGNED DEFAULT JSON_VALUE(p_backend, '$.id');
  DECLARE v_bname VARCHAR(64) DEFAULT JSON_VALUE(p_backend, '$.name');
  DECLARE v_tries INT DEFAULT LEAST(COALESCE(JSON_LENGTH(p_backend, '$.tries'), 0) + 1, 255);
  DECLARE v_xl TINYINT DEFAULT COALESCE(JSON_VALUE(p_backend, '$.translated'), 0);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_old = NULL;
  DECLARE CONTINUE HANDLER FOR 1062 SET v_dup = 1;
  IF p_admit IS NOT NULL AND p_prefix IS NOT NULL THEN
    -- a sweep, or this request's own lost statement still running on the
    -- server (an enqueue whose reply was lost), holds the lock: wait for
    -- it to be done, or the entry would be seen before that commit
    SET v_lock = CONCAT(p_prefix, ':req:', p_admit);
    IF NOT IS_USED_LOCK(v_lock) <=> CONNECTION_ID() THEN
      DO GET_LOCK(v_lock, 30);
    END IF;
  END IF;
  -- The common case: the entry is there (or there is none to have), so
  -- no row can exist yet but one of this very finish cut short after its
  -- commit (the duplicate key tells).
  IF p_admit IS NULL OR p_queue IS NOT NULL OR
     EXISTS (SELECT 1 FROM inflight WHERE id = p_admit) THEN
    INSERT INTO request_log (user_id, key_id, queue_id, admit_id, route, format, model,
        stream, http_status, prompt_tokens, completion_tokens, total_tokens,
        usage_known, latency_ms, error, day, backend_id, backend, tries, translated)
      VALUES (p_user, p_key, p_queue, p_admit, p_route, p_format, p_model, p_stream,
        p_status, p_prompt, p_completion, p_total, p_known, p_latency, p_error, p_day,
        v_bid, v_bname, v_tries, v_xl);
    IF v_dup = 0 THEN
      LEAVE settle;
    END IF;
    IF p_admit IS NULL OR p_queue IS NOT NULL THEN
      -- the queue item's row exists: a closer or an earlier run wrote it
      SIGNAL SQLSTATE '23000' SET MYSQL_ERRNO = 1062,
        MESSAGE_TEXT = 'request_log: queue item already metered';
    END IF;
  END IF;
  -- The entry is gone (a MariaDB restart, a sweep, the request durable in
  -- a queue row, a first run of this finish) or the row exists.
  SELECT id, error, day INTO v_old, v_olderr, v_oldday
    FROM request_log WHERE admit_id = p_admit;
  IF v_old IS NULL THEN
    IF EXISTS (SELECT 1 FROM queue WHERE admit_id = p_admit) THEN
      SET v_admit = NULL;
    END IF;
    INSERT INTO request_log (user_id, key_id, queue_id, admit_id, route, format, model,
        stream, http_status, prompt_tokens, completion_tokens, total_tokens,
        usage_known, latency_ms, error, day, backend_id, backend, tries, translated)
      VALUES (p_user, p_key, p_queue, v_admit, p_route, p_format, p_model, p_stream,
        p_status, p_prompt, p_completion, p_total, p_known, p_latency, p_error, p_day,
        v_bid, v_bname, v_tries, v_xl);
    LEAVE settle;
  END IF;
  IF v_olderr IS NULL OR v_olderr <> relay_swept_why() THEN
    LEAVE settle;   -- our own row, written by a first run of this finish
  END IF;
  UPDATE request_log SET queue_id = p_queue, route = p_route, format = p_format,
      model = p_model, stream = p_stream, http_status = p_status,
      prompt_tokens = p_prompt, completion_tokens = p_completion,
      total_tokens = p_total, usage_known = p_known, latency_ms = p_latency,
      error = p_error, backend_id = v_bid, backend = v_bname, tries = v_tries,
      translated = v_xl
    WHERE id = v_old;
  -- the swept row counted 0 tokens and 1 error
  UPDATE daily_usage SET tokens = tokens + p_total,
      errors = errors - 1 + IF(p_error IS NOT NULL OR p_status >= 400, 1, 0)
    WHERE user_id = p_user AND day = v_oldday AND errors > 0;
END //

DELIMITER ;
