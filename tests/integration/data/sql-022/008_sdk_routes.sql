-- 008_sdk_routes.sql - what the SDK routes (issue 11) need from the two
-- call procedures of 003:
--   relay_admit  returns one more column, the caller's model allow-list
--                (api_keys.models, else users.models; NULL = every model),
--                and reads today's counters after an admitted reservation
--                too, so a success can report the remaining allowance.
--   relay_finish takes one more parameter, the route (request_log.route,
--                NULL = 'call').
-- Both are otherwise exactly as in 003.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_admit(IN p_hash CHAR(64), IN p_day DATE,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT)
BEGIN
  DECLARE v_found TINYINT DEFAULT 1;
  DECLARE v_key INT UNSIGNED DEFAULT NULL;
  DECLARE v_hash CHAR(64) DEFAULT NULL;
  DECLARE v_revoked TINYINT DEFAULT 0;
  DECLARE v_expired TINYINT DEFAULT 0;
  DECLARE v_user INT UNSIGNED DEFAULT NULL;
  DECLARE v_name VARCHAR(64) DEFAULT NULL;
  DECLARE v_enabled TINYINT DEFAULT 0;
  DECLARE v_dreq BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_dtok BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_prio INT DEFAULT 0;
  DECLARE v_models TEXT DEFAULT NULL;
  DECLARE v_admit TINYINT DEFAULT 0;
  DECLARE v_used_r BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_used_t BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_slot INT DEFAULT 0;
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;

  SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL,
         (k.expires_at IS NOT NULL AND k.expires_at < p_day),
         u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority,
         COALESCE(k.models, u.models)
    INTO v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_models
    FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = p_hash;
  IF v_found = 1 AND v_revoked = 0 AND v_expired = 0 AND v_enabled = 1 THEN
    -- The row lock of the upsert serialises concurrent callers; exactly
    -- `limit` requests pass. ROW_COUNT: 1 inserted, 2 incremented, 0 refused.
    INSERT INTO daily_usage (user_id, day, requests) VALUES (v_user, p_day, 1)
      ON DUPLICATE KEY UPDATE requests = IF(
        (v_dreq = 0 OR requests < v_dreq) AND (v_dtok = 0 OR tokens < v_dtok),
        requests + 1, requests);
    SET v_admit = IF(ROW_COUNT() > 0, 1, 0);
    -- read after the upsert, admitted or not: the SDK routes report the
    -- caller's remaining allowance (x-ratelimit-remaining-*) on success
    SELECT requests, tokens INTO v_used_r, v_used_t
      FROM daily_usage WHERE user_id = v_user AND day = p_day;
    IF v_admit = 0 THEN
      SET v_slot = 0;
    ELSEIF EXISTS (SELECT 1 FROM queue WHERE status = 'waiting' AND priority >= v_prio) THEN
      SET v_slot = -1;
    ELSE
      WHILE i < p_slots AND v_slot = 0 DO
        IF GET_LOCK(CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD p_slots + 1), 0) = 1 THEN
          SET v_slot = (p_first - 1 + i) MOD p_slots + 1;
        END IF;
        SET i = i + 1;
      END WHILE;
    END IF;
  END IF;
  SELECT v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_admit, v_used_r, v_used_t, v_slot,
         v_models;
END //

-- As in 003, plus p_route.
CREATE OR REPLACE PROCEDURE relay_finish(IN p_lock VARCHAR(128),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_queue BIGINT UNSIGNED,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_status SMALLINT UNSIGNED, IN p_prompt BIGINT UNSIGNED,
    IN p_completion BIGINT UNSIGNED, IN p_total BIGINT UNSIGNED,
    IN p_known TINYINT, IN p_latency INT UNSIGNED, IN p_error VARCHAR(1024),
    IN p_route VARCHAR(32))
BEGIN
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  INSERT INTO request_log (user_id, key_id, queue_id, format, model, stream,
      http_status, prompt_tokens, completion_tokens, total_tokens, usage_known,
      latency_ms, error, route)
    VALUES (p_user, p_key, p_queue, p_format, p_model, p_stream, p_status,
      p_prompt, p_completion, p_total, p_known, p_latency, p_error,
      COALESCE(p_route, 'call'));
END //

DELIMITER ;
