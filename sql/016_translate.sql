-- 016_translate.sql - Anthropic <-> OpenAI translation (issue 14).
-- request_log.translated says whether the request went upstream in the
-- other API format (the client's format stays in request_log.format):
-- 1 when the relay translated the request and its answer, 0 for the
-- byte-for-byte pass-through. relay_finish takes it as one more last
-- parameter (NULL = 0); otherwise it is the latest one's (013).

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS translated TINYINT NOT NULL DEFAULT 0 AFTER route;

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_finish(IN p_lock VARCHAR(128),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_queue BIGINT UNSIGNED,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_status SMALLINT UNSIGNED, IN p_prompt BIGINT UNSIGNED,
    IN p_completion BIGINT UNSIGNED, IN p_total BIGINT UNSIGNED,
    IN p_known TINYINT, IN p_latency INT UNSIGNED, IN p_error VARCHAR(1024),
    IN p_route VARCHAR(32), IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT, IN p_day DATE, IN p_backend TEXT, IN p_translated TINYINT)
BEGIN
  DECLARE v_wl VARCHAR(128) DEFAULT NULL;
  DECLARE v_inline TINYINT DEFAULT 0;
  DECLARE v_day DATE DEFAULT p_day;
  DECLARE v_bid INT UNSIGNED DEFAULT JSON_VALUE(p_backend, '$.id');
  DECLARE v_ntries INT DEFAULT COALESCE(JSON_LENGTH(p_backend, '$.tries'), 0);
  DECLARE v_log BIGINT UNSIGNED;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_inline = 0;
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  IF p_queue IS NOT NULL THEN
    SELECT inline_wait, worker, COALESCE(p_day, DATE(added_at))
      INTO v_inline, v_wl, v_day FROM queue WHERE id = p_queue;
  END IF;
  IF v_inline = 1 THEN
    UPDATE queue SET status = IF(p_error IS NULL AND p_status < 400, 'completed', 'failed'),
        completed_at = NOW(), http_status = p_status, error_message = p_error, metered = 1
      WHERE id = p_queue AND status IN ('waiting', 'processing');
    IF v_wl IS NOT NULL AND IS_USED_LOCK(v_wl) = CONNECTION_ID() THEN
      DO RELEASE_LOCK(v_wl);
    END IF;
  END IF;
  CALL relay_release_user(p_prefix, p_user);
  -- A queue worker releases its slot after this (relay_release wakes then).
  IF p_prefix IS NOT NULL AND (p_lock IS NOT NULL OR v_inline = 1) THEN
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
  IF v_bid IS NOT NULL AND JSON_VALUE(p_backend, '$.ok') = 1 THEN
    CALL relay_backend_ok(v_bid);
  END IF;
  INSERT INTO request_log (user_id, key_id, queue_id, route, format, model, stream,
      http_status, prompt_tokens, completion_tokens, total_tokens, usage_known,
      latency_ms, error, day, backend_id, backend, tries, translated)
    VALUES (p_user, p_key, p_queue, p_route, p_format, p_model, p_stream, p_status,
      p_prompt, p_completion, p_total, p_known, p_latency, p_error,
      COALESCE(v_day, CURDATE()), v_bid, JSON_VALUE(p_backend, '$.name'),
      LEAST(v_ntries + 1, 255), COALESCE(p_translated, 0));
  IF v_ntries > 0 THEN
    SET v_log = LAST_INSERT_ID();
    INSERT INTO request_tries (log_id, try_no, backend_id, backend, http_status,
        latency_ms, error)
      SELECT v_log, t.n, t.id, COALESCE(t.name, ''), COALESCE(t.status, 0),
             COALESCE(t.ms, 0), t.error
        FROM JSON_TABLE(p_backend, '$.tries[*]' COLUMNS (
          n FOR ORDINALITY, id INT UNSIGNED PATH '$.id',
          name VARCHAR(64) PATH '$.name', status SMALLINT UNSIGNED PATH '$.status',
          ms INT UNSIGNED PATH '$.ms', error VARCHAR(300) PATH '$.error')) t;
  END IF;
END //

DELIMITER ;
