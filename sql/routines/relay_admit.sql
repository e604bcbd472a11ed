-- relay_admit.sql - procedure: a request's admission in one CALL.
-- Called by src/relay/admit.c (admit_request).
--
-- Authenticates a key hash and, if the key and its user may pass: takes
-- one of the user's max_concurrent locks ('<prefix>:user:<id>:<k>', before
-- anything is reserved, so a refusal costs nothing of the daily allowance),
-- reserves the request (an in-flight entry; relay_reserve for a user with a
-- request limit, inline otherwise) and takes an upstream slot
-- (relay_take_slot for p_format / p_model, p_dflt = the default backend's
-- formats; inline on the legacy path: nobody waiting, no table backend of
-- the format, the default's cool-down read in the key's own statement).
-- One row: key_id, key_hash, revoked, expired, user_id, name, enabled,
-- daily_requests, daily_tokens, priority, admitted, requests_used,
-- tokens_used, slot (1 holding one, 0 none free, -1 others ahead, -2 no
-- backend serves it), the model allow-list (key's, else user's; NULL =
-- every model), the slot lock name, capped (1 = max_concurrent reached,
-- nothing reserved), the admission id (NULL unless admitted), which the
-- binaries pass to relay_enqueue or relay_finish.
-- The hot path is counted in table-opening statements: a statement that
-- opens a table, or a stored function call, costs tens of microseconds in
-- MariaDB; SET, DO, GET_LOCK and a nested CALL about one. The common case
-- (an unlimited user, nobody waiting) takes the fast admission of
-- src/relay/admit.c instead, a prepared SELECT that writes nothing.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_admit(IN p_hash CHAR(64), IN p_day DATE,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_dflt INT,
    IN p_ucap INT)
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
  DECLARE v_maxc INT UNSIGNED DEFAULT 0;
  DECLARE v_admit TINYINT DEFAULT 0;
  DECLARE v_used_r BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_used_t BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_slot INT DEFAULT 0;
  DECLARE v_slotname VARCHAR(128) DEFAULT NULL;
  DECLARE v_capped TINYINT DEFAULT 0;
  DECLARE v_ulock VARCHAR(128) DEFAULT NULL;
  DECLARE v_models TEXT DEFAULT NULL;
  DECLARE v_umodels TEXT DEFAULT NULL;
  DECLARE v_why INT DEFAULT 1;
  DECLARE v_first TINYINT DEFAULT 0;
  DECLARE v_rid BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_waiting TINYINT DEFAULT 1;
  DECLARE v_tbl TINYINT DEFAULT 1;
  DECLARE v_cool DATETIME(3) DEFAULT NULL;
  DECLARE v_n INT DEFAULT 0;
  DECLARE v_ulock2 VARCHAR(128) DEFAULT NULL;
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;

  -- A process holds no named lock between requests: anything left over
  -- from an earlier request that could not be metered is let go here.
  DO RELEASE_ALL_LOCKS();
  SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL,
         (k.expires_at IS NOT NULL AND k.expires_at < p_day),
         u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority,
         u.max_concurrent, k.models, u.models,
         EXISTS (SELECT 1 FROM queue WHERE status = 'waiting'),
         EXISTS (SELECT 1 FROM backends WHERE enabled = 1 AND format = p_format),
         (SELECT cool_until FROM backend_state WHERE backend_id = 0)
    INTO v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_maxc, v_models, v_umodels, v_waiting, v_tbl, v_cool
    FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = p_hash;
  -- the config's cap for a user whose own is 0 (user_max_concurrent);
  -- kept in the session for relay_release_user, which lets go of it
  IF v_maxc = 0 AND p_ucap > 0 THEN
    SET v_maxc = p_ucap;
  END IF;
  SET @relay_ucap = v_maxc;
  IF v_found = 1 AND v_revoked = 0 AND v_expired = 0 AND v_enabled = 1 THEN
    IF v_maxc > 0 THEN
      SET v_capped = 1;
      WHILE i < v_maxc AND v_capped = 1 DO
        SET v_ulock = CONCAT(p_prefix, ':user:', v_user, ':', i + 1);
        IF GET_LOCK(v_ulock, 0) = 1 THEN
          SET v_capped = 0;
        END IF;
        SET i = i + 1;
      END WHILE;
      SET i = 0;
    END IF;
    IF v_capped = 0 THEN
      IF v_dreq = 0 THEN
        -- relay_reserve without a request limit: nothing to count, one
        -- MEMORY insert and the request's liveness lock
        IF v_dtok > 0 THEN
          SET v_used_t = relay_tokens_used(v_user, p_day);
        END IF;
        IF v_dtok = 0 OR v_used_t < v_dtok THEN
          SET v_rid = UUID_SHORT() & 0x7FFFFFFFFFFFFFFF;   -- a signed 64-bit value for C
          DO GET_LOCK(CONCAT(p_prefix, ':req:', v_rid), 0);
          INSERT INTO inflight (id, user_id, key_id, day, conn_id, lock_name)
            VALUES (v_rid, v_user, v_key, p_day, CONNECTION_ID(),
                    CONCAT(p_prefix, ':req:', v_rid));
          SET v_admit = 1, v_used_r = 1;
        END IF;
      ELSE
        CALL relay_reserve(v_user, v_key, p_day, p_prefix, v_dreq, v_dtok,
                           v_admit, v_used_r, v_used_t, v_rid);
      END IF;
      IF v_admit = 0 THEN
        IF v_maxc > 0 THEN DO RELEASE_LOCK(v_ulock); END IF;
      ELSEIF v_waiting = 0 AND v_tbl = 0 AND (p_dflt & IF(p_format = 'anthropic', 2, 1)) <> 0 THEN
        -- relay_take_slot's legacy path (nobody ahead, the default's slots:
        -- all of them, none while it cools down, one probe after), inline
        SET v_n = IF(v_cool IS NULL, p_slots, IF(v_cool > NOW(3), 0, LEAST(p_slots, 1)));
        WHILE i < v_n AND v_slotname IS NULL DO
          SET v_ulock2 = CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD v_n + 1);
          IF GET_LOCK(v_ulock2, 0) = 1 THEN
            SET v_slotname = v_ulock2;
          END IF;
          SET i = i + 1;
        END WHILE;
        SET v_slot = IF(v_slotname IS NULL, 0, 1);
      ELSE
        CALL relay_take_slot(p_prefix, p_slots, p_first, p_dflt, p_format, p_model,
                             v_prio, 0, NULL, v_slotname, v_why, v_first);
        SET v_slot = CASE v_why WHEN 0 THEN 1 WHEN 2 THEN -1 WHEN 3 THEN -2 ELSE 0 END;
      END IF;
    END IF;
  END IF;
  SELECT v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_admit, v_used_r, v_used_t, v_slot,
         v_models, v_slotname, v_capped, v_rid, v_umodels;
END //

DELIMITER ;
