-- 017_hotpath.sql - the request's two statements, leaner (issue 16), and
-- an inline waiter whose client left mid-statement metered as such.
--
-- relay_admit and relay_finish move here from 016 (defined once, here).
-- Measured on this machine (harness MariaDB, one session, 2,000 calls
-- each): a statement that opens an InnoDB table costs 30-60 us inside a
-- procedure, a stored function call about 10 us plus its own statements,
-- while SET, DO, GET_LOCK, JSON_VALUE and a nested CALL cost about 1 us.
-- So the hot path is counted in table-opening statements: an admission of
-- an unlimited user on the legacy setup was 7 of them and 3 function calls
-- (key, reservation, queue, backends, cool-down, slot name, ...), now it is
-- 2 (the key's statement reads the rest; the in-flight insert); the
-- finish's direct path drops the user read and one queue read.

DELIMITER //

-- relay_admit: 010's with the slot taken per backend (relay_take_slot, 013:
-- p_format / p_model, p_dflt = the default backend's formats; slot column -2
-- when no backend serves them), and the daily_usage upsert and its read
-- replaced by the in-flight reservation (relay_reserve, 016). One more
-- column at the end: the admission id (NULL unless admitted), which the
-- binaries pass to relay_enqueue or relay_finish.
--
-- 017, the hot path: what every admission of an unlimited user needs
-- (nobody waiting, no table backend of the format, the default's
-- cool-down) is read in the key's own statement, and then the reservation
-- and the default's slot are taken inline, with the same rules as
-- relay_reserve and relay_take_slot (which still do everything else). In
-- MariaDB a statement that opens a table, or a stored function call, costs
-- tens of microseconds; SET, DO, GET_LOCK and a nested CALL about one.
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
         v_models, v_slotname, v_capped, v_rid;
END //

-- 012's relay_finish plus p_backend (013, 014: the serving backend, its
-- failed tries into request_tries, and whether it was translated, as
-- JSON) and p_admit (the admission id,
-- NULL for a queue worker's item). Changed: the wake comes right after the slot release
-- (before any commit, as the log INSERT came after it before), and the
-- inline row's UPDATE and the log row are one transaction, one commit
-- (relay_settle writes the row); the entry goes after that commit, then the
-- liveness and user locks. Inside a caller's transaction (a queue worker
-- stores its result and meters in one) it joins that one.
--
-- 017: whether anyone waits and whether the serving backend has a failure
-- state to clear are one read; a direct request (no queue row) lets go of
-- every named lock of its connection at the end, which is what it holds
-- (the user's concurrency lock among them) without reading the user. An
-- inline waiter whose connection was re-made while it waited (its client
-- left during a statement: src/db.c drops the connection) no longer holds
-- its row's lock; its row is closed here first and the wake comes after,
-- or the wake would close it as dead ("client gone") before it is metered.
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
