-- 023_guard.sql - limits a member cannot lift (issue 25: 2, 9, 11, 12).
--
-- relay_admit: 017's with the key's and the user's model allow-lists as
-- two columns (column 14 the key's, a new last column 18 the user's)
-- instead of COALESCE(k.models, u.models), which let a key's list win over
-- the list the operator gave its user. The binaries meet the two
-- (auth_set_models2): a key's list only narrows its user's, at request
-- time, so narrowing the user narrows the keys it already has.
--
-- relay_admit also takes p_ucap, the config's user_max_concurrent as a
-- number (0 = none): the cap of a user whose max_concurrent is 0 (issue
-- 25.9), off by default; relay_release_user (010's) lets go of up to it.
--
-- relay_enqueue: 016's with users.max_queued = 0 meaning the default
-- instead of unlimited: a quarter of queue_max, at least 1 (100 -> 25).
-- One member queued 100 call.php items and everyone else got 503; now
-- that member gets the user-cap 429 at 25 and the others still queue.
-- An explicit per-user value (relayctl user set --max-queued N) is kept
-- as it is, a value >= queue_max lifts the cap for that user.

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
  -- 023: the config's cap for a user whose own is 0 (user_max_concurrent);
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
          SELECT COALESCE((SELECT tokens FROM daily_usage
                             WHERE user_id = v_user AND day = p_day), 0) INTO v_used_t;
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
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    DO RELEASE_LOCK(v_lock);
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
  -- 023: 0 is the default, a quarter of the queue (at least 1), so one
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

-- 010's relay_release_user, with the config's default cap (relay_admit
-- above keeps it in @relay_ucap).
-- Lets go of the user's concurrency locks this connection holds (a 202
-- hands the request to the queue; relay_finish ends a request).
CREATE OR REPLACE PROCEDURE relay_release_user(IN p_prefix VARCHAR(64),
    IN p_user INT UNSIGNED)
BEGIN
  DECLARE v_maxc INT UNSIGNED DEFAULT 0;
  DECLARE v_ul VARCHAR(128);
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_maxc = 0;
  SELECT max_concurrent INTO v_maxc FROM users WHERE id = p_user;
  -- 023: or the config's cap relay_admit applied on this connection
  SET v_maxc = GREATEST(v_maxc, COALESCE(@relay_ucap, 0));
  WHILE i < v_maxc DO
    SET v_ul = CONCAT(p_prefix, ':user:', p_user, ':', i + 1);
    IF IS_USED_LOCK(v_ul) = CONNECTION_ID() THEN
      DO RELEASE_LOCK(v_ul);
    END IF;
    SET i = i + 1;
  END WHILE;
END //

DELIMITER ;
