-- 023_queue.sql - every limit holds at the turn of a queued request, and a
-- token limit sees the tokens of requests that finished but are not yet
-- written (issue 25, points 4-7).
--
-- Point 4, tokens finished but not yet written. Admission compared the
-- token limit with daily_usage.tokens alone, which a request reaches only
-- when its row is written: by meterd's next batch (tens of ms later) or by
-- the process's metering thread, both after the slot was let go and the
-- client had its answer. So a client calling back to back was admitted 8
-- to 11 times against a limit that two answers reach. Now a finished
-- request's tokens are on its in-flight entry (inflight.tokens, a MEMORY
-- column) from the statement that lets go of its slot (relay_handover for
-- meterd, relay_pend for the metering thread; relay_finish writes the row
-- itself before letting go), and admission adds the tokens of the user's
-- entries not yet durable (inflight_open) to daily_usage.tokens, in one
-- statement: exact by 019's argument (an entry goes only after the commit
-- that wrote its row, and an entry whose row is written is left out by the
-- view), across processes and hosts (one MariaDB). Users with a token
-- limit leave the fast path (src/relay/admit.c) for relay_admit's, whose
-- entries are rows here; unlimited users' fast path is unchanged.

ALTER TABLE inflight ADD COLUMN IF NOT EXISTS tokens BIGINT UNSIGNED NOT NULL DEFAULT 0;

CREATE OR REPLACE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW inflight_open AS
  SELECT i.id, i.user_id, i.key_id, i.day, i.conn_id, i.lock_name, i.tokens
    FROM inflight i
   WHERE NOT EXISTS (SELECT 1 FROM request_log r WHERE r.admit_id = i.id)
     AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.admit_id = i.id);

DELIMITER //

-- Today's tokens of a user for the limit: written (daily_usage) plus
-- finished and not yet written (the entries' tokens), one statement.
CREATE OR REPLACE FUNCTION relay_tokens_used(p_user INT UNSIGNED, p_day DATE)
    RETURNS BIGINT UNSIGNED NOT DETERMINISTIC READS SQL DATA
  RETURN (SELECT COALESCE((SELECT tokens FROM daily_usage
                            WHERE user_id = p_user AND day = p_day), 0)
                 + (SELECT COALESCE(SUM(i.tokens), 0) FROM inflight_open i
                     WHERE i.user_id = p_user AND i.day = p_day)) //

-- The metering thread's finish (src/relay/exchange.c): the request's
-- tokens on its entry, then every named lock let go (what
-- `DO RELEASE_ALL_LOCKS()` did alone), so the next admission sees them.
CREATE OR REPLACE PROCEDURE relay_pend(IN p_admit BIGINT UNSIGNED,
    IN p_tokens BIGINT UNSIGNED)
BEGIN
  UPDATE inflight SET tokens = p_tokens WHERE id = p_admit;
  DO RELEASE_ALL_LOCKS();
END //

-- 019's relay_reserve; the tokens of the user's entries not yet durable
-- count with daily_usage's.
CREATE OR REPLACE PROCEDURE relay_reserve(IN p_user INT UNSIGNED,
    IN p_key INT UNSIGNED, IN p_day DATE, IN p_prefix VARCHAR(64),
    IN p_dreq BIGINT UNSIGNED, IN p_dtok BIGINT UNSIGNED, OUT o_admit TINYINT,
    OUT o_used_r BIGINT UNSIGNED, OUT o_used_t BIGINT UNSIGNED,
    OUT o_rid BIGINT UNSIGNED)
BEGIN
  DECLARE v_ll VARCHAR(128) DEFAULT NULL;
  DECLARE v_up BIGINT DEFAULT 0;
  DECLARE v_dead BIGINT UNSIGNED DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_dead = NULL;
  SET o_admit = 0, o_used_r = 0, o_used_t = 0, o_rid = NULL;
  IF p_dreq > 0 THEN
    IF NOT EXISTS (SELECT 1 FROM inflight_boot) THEN
      SELECT VARIABLE_VALUE INTO v_up FROM information_schema.GLOBAL_STATUS
        WHERE VARIABLE_NAME = 'UPTIME';
      IF v_up < relay_restart_grace() THEN
        DO SLEEP(relay_restart_grace() - v_up);
      END IF;
      INSERT IGNORE INTO inflight_boot VALUES (1);
    END IF;
    SET v_ll = CONCAT(p_prefix, ':limit:', p_user);
    IF GET_LOCK(v_ll, 10) IS NULL OR IS_USED_LOCK(v_ll) <> CONNECTION_ID() THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'relay_reserve: limit lock not had in 10 s';
    END IF;
    -- entries of this user whose process died: closed before counting
    SELECT id INTO v_dead FROM inflight
      WHERE user_id = p_user AND IS_USED_LOCK(lock_name) IS NULL LIMIT 1;
    IF v_dead IS NOT NULL THEN
      CALL relay_sweep(p_user, 5);
    END IF;
    -- one statement: exact (see relay_inflight, inlined: a stored
    -- function call costs more than the whole query)
    SELECT COALESCE((SELECT requests FROM daily_usage WHERE user_id = p_user AND day = p_day), 0)
           + (SELECT COUNT(*) FROM inflight_open i WHERE i.user_id = p_user AND i.day = p_day),
           COALESCE((SELECT tokens FROM daily_usage WHERE user_id = p_user AND day = p_day), 0)
           + (SELECT COALESCE(SUM(i.tokens), 0) FROM inflight_open i
               WHERE i.user_id = p_user AND i.day = p_day)
      INTO o_used_r, o_used_t;
  ELSEIF p_dtok > 0 THEN
    SET o_used_t = relay_tokens_used(p_user, p_day);
  END IF;
  IF (p_dreq = 0 OR o_used_r < p_dreq) AND (p_dtok = 0 OR o_used_t < p_dtok) THEN
    SET o_rid = UUID_SHORT() & 0x7FFFFFFFFFFFFFFF;   -- a signed 64-bit value for C
    DO GET_LOCK(CONCAT(p_prefix, ':req:', o_rid), 0);
    INSERT INTO inflight (id, user_id, key_id, day, conn_id, lock_name)
      VALUES (o_rid, p_user, p_key, p_day, CONNECTION_ID(),
              CONCAT(p_prefix, ':req:', o_rid));
    SET o_admit = 1, o_used_r = o_used_r + 1;
  END IF;
  IF v_ll IS NOT NULL THEN
    DO RELEASE_LOCK(v_ll);
  END IF;
END //

-- 017's relay_admit; an unlimited-requests user's token check reads
-- relay_tokens_used (written plus finished, not yet written).
CREATE OR REPLACE PROCEDURE relay_admit(IN p_hash CHAR(64), IN p_day DATE,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_dflt INT)
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
         u.max_concurrent, COALESCE(k.models, u.models),
         EXISTS (SELECT 1 FROM queue WHERE status = 'waiting'),
         EXISTS (SELECT 1 FROM backends WHERE enabled = 1 AND format = p_format),
         (SELECT cool_until FROM backend_state WHERE backend_id = 0)
    INTO v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_maxc, v_models, v_waiting, v_tbl, v_cool
    FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = p_hash;
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
         v_models, v_slotname, v_capped, v_rid;
END //

-- 020's relay_handover plus p_tokens: the request's tokens go on its entry
-- in the statement that lets go of its slot.
CREATE OR REPLACE PROCEDURE relay_handover(IN p_admit BIGINT UNSIGNED,
    IN p_lock VARCHAR(128), IN p_slot TINYINT, IN p_prefix VARCHAR(64),
    IN p_slots INT, IN p_maxwait INT, IN p_tokens BIGINT UNSIGNED)
BEGIN
  IF IS_USED_LOCK(p_lock) IS NULL THEN
    SELECT 0;
  ELSE
    UPDATE inflight SET lock_name = p_lock, handed_at = NOW(), tokens = p_tokens
      WHERE id = p_admit;
    DO RELEASE_ALL_LOCKS();
    IF p_slot = 1 AND EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
      CALL relay_wake(p_prefix, p_slots, p_maxwait);
    END IF;
    SELECT 1;
  END IF;
END //

DELIMITER ;
