-- 023_queue.sql - every limit holds at the turn of a queued request, and a
-- token limit sees the tokens of requests that finished but are not yet
-- written (issue 25, points 4-7).
--
-- Here: inflight.tokens and the view inflight_open (with tokens); new
-- relay_tokens_used, relay_pend, relay_cap_free, relay_verdict,
-- relay_deny_why, relay_deny; redefined relay_reserve (019), relay_admit
-- (017), relay_handover (020, + p_tokens), relay_ahead and relay_head_for
-- (013, + p_prefix), relay_take_slot and relay_take_polled (018),
-- relay_wake and relay_wait (013), relay_release (010), relay_finish (017).
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

-- Points 5-7, at the turn of a queued request. A request is admitted when
-- it arrives; queued, it may run minutes later, and meanwhile its key may
-- be revoked, its user disabled, or its user's token limit reached by the
-- requests that ran before it. And a worker forwarded a polled item
-- without the user's concurrency lock, so --max-concurrent 1 let four of a
-- user's requests run at once. Now:
--   * relay_verdict(item) reads the key, the user and the token limit
--     (relay_tokens_used: written plus finished, not yet written) when the
--     item's turn comes: a polled item refused is ended by relay_deny in
--     relay_take_polled before any slot is taken (failed, one log row,
--     counted as an error: 429 with the seed's message for the token
--     limit, 503 'cancelled: ...' for a key or a user); an inline waiter
--     refused (relay_wait) has its row closed so the next in line is woken
--     for the slot it let go, and answers the client (the 'tokens' state,
--     or 'gone' as an operator's cancel) and writes its one log row.
--   * a worker takes one of the user's concurrency locks
--     ('<prefix>:user:<id>:<k>', the direct path's) before it claims the
--     item, and relay_release lets go of it after the item. Polled items
--     whose user has no free lock are passed over, not waited for: by the
--     worker's pick (relay_head_for), and in the order that others yield
--     to (relay_ahead; else the user's own inline waiter, which holds the
--     lock, would wait behind the user's polled item for good). Inline
--     waiters hold their lock from admission and are never passed over.
--     The check costs an IS_FREE_LOCK per lock only for items of users
--     with a cap, and only while something waits.

DELIMITER //

-- 1 when one of the user's p_maxc concurrency locks is free.
CREATE OR REPLACE FUNCTION relay_cap_free(p_prefix VARCHAR(64), p_user INT UNSIGNED,
    p_maxc INT UNSIGNED) RETURNS TINYINT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < p_maxc DO
    IF IS_FREE_LOCK(CONCAT(p_prefix, ':user:', p_user, ':', i + 1)) = 1 THEN
      RETURN 1;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN p_maxc = 0;
END //

-- Whether a queued request may still go upstream now: 0 yes, 1 its key is
-- revoked, expired or gone, 2 its user disabled or gone, 3 its user's
-- token limit is reached (on the day the item counts on, its queue day).
CREATE OR REPLACE FUNCTION relay_verdict(p_id BIGINT UNSIGNED)
    RETURNS TINYINT NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v = 0;
  SELECT CASE
           WHEN u.id IS NULL OR u.enabled = 0 THEN 2
           WHEN k.id IS NULL OR k.revoked_at IS NOT NULL OR
                (k.expires_at IS NOT NULL AND k.expires_at < CURDATE()) THEN 1
           WHEN u.daily_tokens > 0 AND
                relay_tokens_used(u.id, DATE(q.added_at)) >= u.daily_tokens THEN 3
           ELSE 0 END
    INTO v
    FROM queue q LEFT JOIN users u ON u.id = q.user_id
         LEFT JOIN api_keys k ON k.id = q.key_id
   WHERE q.id = p_id;
  RETURN v;
END //

-- The error of a refused turn (relay_verdict's number): the seed's words
-- for the token limit (call.php's 429), 'cancelled: ...' otherwise.
CREATE OR REPLACE FUNCTION relay_deny_why(p_verdict TINYINT)
    RETURNS VARCHAR(64) DETERMINISTIC NO SQL
  RETURN CASE p_verdict WHEN 3 THEN '今日Token用量已达上限'
                        WHEN 2 THEN 'cancelled: user disabled'
                        ELSE 'cancelled: API key revoked' END //

-- Ends a waiting polled item refused at its turn (relay_verdict): failed
-- with 429 or 503 and its one request_log row (relay_cancel's way: its
-- request was counted when it was queued; the row counts it as an error),
-- in one transaction. Nothing when the item is no longer waiting.
CREATE OR REPLACE PROCEDURE relay_deny(IN p_id BIGINT UNSIGNED, IN p_verdict TINYINT)
BEGIN
  DECLARE v_why VARCHAR(64) DEFAULT relay_deny_why(p_verdict);
  DECLARE v_st SMALLINT UNSIGNED DEFAULT IF(p_verdict = 3, 429, 503);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    RESIGNAL;
  END;
  START TRANSACTION;
  UPDATE queue SET status = 'failed', completed_at = NOW(), error_message = v_why,
      http_status = v_st, metered = 1
    WHERE id = p_id AND status = 'waiting' AND inline_wait = 0;
  IF ROW_COUNT() = 1 THEN
    INSERT IGNORE INTO request_log (user_id, key_id, queue_id, route, format, model,
        stream, http_status, error, day)
      SELECT user_id, key_id, id, route, format, model, stream, v_st, v_why, DATE(added_at)
        FROM queue WHERE id = p_id;
  END IF;
  COMMIT;
END //

-- 013's relay_ahead plus p_prefix: a polled item whose user is at the
-- concurrency cap is not ahead of anybody until a lock of its user frees.
CREATE OR REPLACE FUNCTION relay_ahead(p_prefix VARCHAR(64), p_b INT UNSIGNED, p_dflt INT, p_prio INT,
    p_id BIGINT UNSIGNED) RETURNS TINYINT NOT DETERMINISTIC READS SQL DATA
RETURN EXISTS (SELECT 1 FROM queue q LEFT JOIN users u ON u.id = q.user_id
  WHERE q.status = 'waiting'
    AND (q.not_before IS NULL OR q.not_before <= NOW()) AND q.id <> p_id
    AND (q.priority > p_prio OR (q.priority = p_prio AND (p_id = 0 OR q.id < p_id)))
    AND (q.inline_wait = 1 OR COALESCE(u.max_concurrent, 0) = 0 OR
         relay_cap_free(p_prefix, q.user_id, u.max_concurrent) = 1)
    AND relay_serves(p_b, q.format, q.model, p_dflt) = 1) //

-- 013's relay_head_for plus p_prefix: passes over such items too.
CREATE OR REPLACE PROCEDURE relay_head_for(IN p_prefix VARCHAR(64), IN p_b INT UNSIGNED, IN p_dflt INT,
    OUT o_id BIGINT UNSIGNED, OUT o_inline TINYINT, OUT o_conn BIGINT UNSIGNED)
BEGIN
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET o_id = NULL;
  SET o_id = NULL;
  SELECT q.id, q.inline_wait, q.wait_conn INTO o_id, o_inline, o_conn
    FROM queue q LEFT JOIN users u ON u.id = q.user_id
    WHERE q.status = 'waiting' AND (q.not_before IS NULL OR q.not_before <= NOW())
      AND (q.inline_wait = 1 OR COALESCE(u.max_concurrent, 0) = 0 OR
           relay_cap_free(p_prefix, q.user_id, u.max_concurrent) = 1)
      AND relay_serves(p_b, q.format, q.model, p_dflt) = 1
    ORDER BY q.priority DESC, q.id LIMIT 1;
END //

-- 018's relay_take_slot, calling relay_ahead with the prefix.
CREATE OR REPLACE PROCEDURE relay_take_slot(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_first INT, IN p_dflt INT, IN p_format VARCHAR(16), IN p_model VARCHAR(255),
    IN p_prio INT, IN p_id BIGINT UNSIGNED, IN p_exclude VARCHAR(1024),
    OUT o_slot VARCHAR(128), OUT o_why INT, OUT o_first TINYINT)
proc: BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_w INT UNSIGNED;
  DECLARE v_n INT;
  DECLARE v_s INT;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_served TINYINT DEFAULT 0;
  DECLARE v_free TINYINT DEFAULT 0;
  DECLARE v_list TEXT DEFAULT '';
  DECLARE v_total BIGINT DEFAULT 0;
  DECLARE v_r DOUBLE;
  DECLARE v_item TEXT;
  DECLARE v_pos INT;
  DECLARE v_waiting TINYINT DEFAULT 0;
  DECLARE v_p INT;
  DECLARE v_top INT DEFAULT NULL;
  DECLARE v_rest TEXT DEFAULT '';
  -- the serving backends only (relay_serves' rule inline: one scan of a
  -- small table, no statement per backend, a function call only for a
  -- list with globs or a mapping)
  DECLARE cur CURSOR FOR
    SELECT 0, 1, 0 FROM DUAL WHERE (p_dflt & IF(p_format = 'anthropic', 2, 1)) <> 0
    UNION ALL
    SELECT id, weight, priority FROM backends WHERE enabled = 1 AND format = p_format
      AND (models IS NULL OR TRIM(models) = ''
           OR IF(LOCATE('*', models) = 0, FIND_IN_SET(p_model, REPLACE(models, ' ', '')) > 0,
                 relay_glob_any(models, p_model, 0) = 1)
           OR (model_map IS NOT NULL AND relay_glob_any(model_map, p_model, 1) = 1))
    ORDER BY 3 DESC, 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  SET o_slot = NULL, o_why = 3, o_first = 0;
  -- nobody waits (the common case): no line to look at per backend
  SET v_waiting = p_prio IS NOT NULL AND
    EXISTS (SELECT 1 FROM queue WHERE status = 'waiting' AND id <> p_id);
  -- No table backend of this format: the default's own slots, without the
  -- scan and its weights (the legacy setup, and the hot path: the scan's
  -- UNION, per-backend counts and parsing cost more than the whole rest
  -- of an admission)
  IF (p_dflt & IF(p_format = 'anthropic', 2, 1)) <> 0 AND
     (p_exclude IS NULL OR LOCATE(',0,', p_exclude) = 0) AND
     NOT EXISTS (SELECT 1 FROM backends WHERE enabled = 1 AND format = p_format) THEN
    IF v_waiting = 1 AND relay_ahead(p_prefix, 0, p_dflt, p_prio, p_id) = 1 THEN
      SET o_why = IF(relay_bfree(p_prefix, 0, relay_bslots(0, p_slots), 1) > 0, 2, 1);
      LEAVE proc;
    END IF;
    SET o_first = 1;
    CALL relay_grab(p_prefix, 0, p_slots, p_first, o_slot);
    SET o_why = IF(o_slot IS NULL, 1, 0);
    LEAVE proc;
  END IF;
  SET v_done = 0;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b, v_w, v_p;
    IF v_done = 1 THEN
      LEAVE scan;
    END IF;
    IF p_exclude IS NOT NULL AND LOCATE(CONCAT(',', v_b, ','), p_exclude) > 0 THEN
      ITERATE scan;
    END IF;
    SET v_served = 1;
    IF v_waiting = 1 AND relay_ahead(p_prefix, v_b, p_dflt, p_prio, p_id) = 1 THEN
      IF relay_bfree(p_prefix, v_b, relay_bslots(v_b, p_slots), 1) > 0 THEN
        SET v_free = 1;
      END IF;
      ITERATE scan;
    END IF;
    SET o_first = 1;
    SET v_n = relay_bslots(v_b, p_slots);
    IF v_n > 0 AND relay_bfree(p_prefix, v_b, v_n, 1) > 0 THEN
      -- the scan runs by priority: the first free backend sets the group
      IF v_top IS NULL THEN
        SET v_top = v_p;
      END IF;
      IF v_p = v_top THEN
        SET v_list = CONCAT(v_list, v_b, ':', GREATEST(v_w, 1), ',');
        SET v_total = v_total + GREATEST(v_w, 1);
      ELSE
        SET v_rest = CONCAT(v_rest, v_b, ':0,');
      END IF;
    END IF;
  END LOOP;
  CLOSE cur;
  IF v_served = 1 AND v_total = 0 THEN
    SET o_why = IF(v_free = 1, 2, 1);
  ELSEIF v_served = 1 THEN
    -- one of the top group by weight; should its slots be taken
    -- meanwhile, the others in scan order (the lower priorities last)
    SET v_r = RAND() * v_total, v_item = v_list;
    WHILE v_item <> '' AND v_r >= 0 DO
      SET v_pos = LOCATE(',', v_item);
      SET v_b = CAST(SUBSTRING_INDEX(LEFT(v_item, v_pos - 1), ':', 1) AS UNSIGNED);
      SET v_w = CAST(SUBSTRING_INDEX(LEFT(v_item, v_pos - 1), ':', -1) AS UNSIGNED);
      SET v_item = SUBSTRING(v_item, v_pos + 1);
      SET v_r = v_r - v_w;
    END WHILE;
    CALL relay_grab(p_prefix, v_b, p_slots, p_first, o_slot);
    SET v_item = CONCAT(v_list, v_rest);
    WHILE v_item <> '' AND o_slot IS NULL DO
      SET v_pos = LOCATE(',', v_item);
      SET v_b = CAST(SUBSTRING_INDEX(LEFT(v_item, v_pos - 1), ':', 1) AS UNSIGNED);
      SET v_item = SUBSTRING(v_item, v_pos + 1);
      CALL relay_grab(p_prefix, v_b, p_slots, p_first, o_slot);
    END WHILE;
    SET o_why = IF(o_slot IS NULL, 1, 0);
  END IF;
END //

-- 018's relay_take_polled: refused items end on the way (relay_deny).
CREATE OR REPLACE PROCEDURE relay_take_polled(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_first INT, IN p_dflt INT, OUT o_slot VARCHAR(128), OUT o_item BIGINT UNSIGNED)
BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_p INT;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_verdict TINYINT;
  DECLARE n INT DEFAULT 0;
  DECLARE cur CURSOR FOR
    SELECT 0, 0 FROM DUAL WHERE p_dflt <> 0
    UNION ALL SELECT id, priority FROM backends WHERE enabled = 1
    ORDER BY 2 DESC, 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  SET o_slot = NULL, o_item = NULL;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b, v_p;
    IF v_done = 1 OR o_slot IS NOT NULL THEN
      LEAVE scan;
    END IF;
    IF relay_bfree(p_prefix, v_b, relay_bslots(v_b, p_slots), 1) = 0 THEN
      ITERATE scan;
    END IF;
    CALL relay_head_for(p_prefix, v_b, p_dflt, v_head, v_inline, v_conn);
    SET v_done = 0;
    -- an item its key or user may no longer send, or over its user's
    -- token limit, ends here: never upstream, never holding a slot
    WHILE v_head IS NOT NULL AND v_inline = 0 AND n < 20 DO
      SET v_verdict = relay_verdict(v_head);
      IF v_verdict = 0 THEN
        SET n = 20;
      ELSE
        CALL relay_deny(v_head, v_verdict);
        CALL relay_head_for(p_prefix, v_b, p_dflt, v_head, v_inline, v_conn);
        SET v_done = 0, n = n + 1;
      END IF;
    END WHILE;
    SET n = 0;
    IF v_head IS NOT NULL AND v_inline = 0 THEN
      CALL relay_grab(p_prefix, v_b, p_slots, p_first, o_slot);
      IF o_slot IS NOT NULL THEN
        SET o_item = v_head;
      END IF;
    END IF;
  END LOOP;
  CLOSE cur;
END //

-- 013's relay_wake, calling relay_head_for with the prefix.
CREATE OR REPLACE PROCEDURE relay_wake(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT)
wake: BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_q BIGINT UNSIGNED;
  DECLARE v_woken VARCHAR(200) DEFAULT ',';
  DECLARE n INT DEFAULT 0;
  DECLARE cur CURSOR FOR SELECT 0 FROM DUAL UNION ALL
    SELECT id FROM backends WHERE enabled = 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
  IF NOT EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
    LEAVE wake;
  END IF;
  -- closes dead waiters' rows first, as 011 did
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  IF v_head IS NULL THEN
    LEAVE wake;
  END IF;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b;
    IF v_done = 1 OR n >= 4 THEN
      LEAVE scan;
    END IF;
    IF relay_bfree(p_prefix, v_b, relay_bslots(v_b, p_slots), 1) = 0 THEN
      ITERATE scan;
    END IF;
    CALL relay_head_for(p_prefix, v_b, 3, v_head, v_inline, v_conn);
    SET v_done = 0;
    IF v_head IS NULL OR LOCATE(CONCAT(',', v_head, ','), v_woken) > 0 THEN
      ITERATE scan;
    END IF;
    SET v_woken = CONCAT(v_woken, v_head, ','), n = n + 1;
    SET v_q = relay_sleeper(IF(v_inline = 0, NULL, v_conn));
    IF v_q IS NOT NULL THEN
      KILL QUERY ID v_q;
    END IF;
  END LOOP;
  CLOSE cur;
END //

-- 013's relay_wait: an inline waiter's turn is checked (relay_verdict), a
-- worker takes the item's user's concurrency lock before its claim.
CREATE OR REPLACE PROCEDURE relay_wait(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT, IN p_nap_ms INT,
    IN p_maxwait INT, IN p_dflt INT)
step: BEGIN
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_format VARCHAR(16);
  DECLARE v_model VARCHAR(255);
  DECLARE v_prio INT;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item VARCHAR(128);
  DECLARE v_mine TINYINT DEFAULT 0;
  DECLARE v_why INT;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE v_verdict TINYINT DEFAULT 0;
  DECLARE v_user INT UNSIGNED;
  DECLARE v_maxc INT UNSIGNED DEFAULT 0;
  DECLARE v_ul VARCHAR(128) DEFAULT NULL;
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  IF p_id > 0 THEN
    SELECT status, format, model, priority INTO v_status, v_format, v_model, v_prio
      FROM queue WHERE id = p_id;
    IF v_none = 1 OR v_status <> 'waiting' THEN
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  END IF;
  -- the global head: closes rows of dead waiters on the way
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  IF p_id > 0 THEN
    CALL relay_take_slot(p_prefix, p_slots, p_first, p_dflt, v_format, v_model,
                         v_prio, p_id, NULL, v_slot, v_why, v_mine);
  ELSE
    CALL relay_take_polled(p_prefix, p_slots, p_first, p_dflt, v_slot, v_head);
    SET v_mine = v_head IS NOT NULL;
  END IF;
  IF v_slot IS NULL THEN
    SELECT NULL, 'wait', p_id, IF(v_mine, LEAST(p_nap_ms, 500), p_nap_ms);
    LEAVE step;
  END IF;
  IF p_id > 0 THEN
    -- its turn: the key, the user and the token limit once more (023);
    -- refused, the row is closed here (so the wake below finds the next
    -- in line) and the waiter answers and writes its one log row
    SET v_verdict = relay_verdict(p_id);
    IF v_verdict <> 0 THEN
      UPDATE queue SET status = 'failed', completed_at = NOW(),
          http_status = IF(v_verdict = 3, 429, 503), error_message = relay_deny_why(v_verdict)
        WHERE id = p_id AND status = 'waiting';
      DO RELEASE_LOCK(v_slot);
      CALL relay_wake(p_prefix, p_slots, p_maxwait);
      SELECT NULL, IF(v_verdict = 3, 'tokens', 'gone'), p_id, 0;
      LEAVE step;
    END IF;
    UPDATE queue SET status = 'processing', started_at = NOW(), attempts = attempts + 1
      WHERE id = p_id AND status = 'waiting';
    IF ROW_COUNT() <> 1 THEN
      DO RELEASE_LOCK(v_slot);
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  ELSE
    -- The user's concurrency cap counts what a worker forwards (023): one
    -- of the user's locks first (relay_head_for passed over items whose
    -- user had none free; one taken meanwhile: look again at once). Let
    -- go of by relay_release, or with the connection.
    SELECT q.user_id, COALESCE(u.max_concurrent, 0) INTO v_user, v_maxc
      FROM queue q LEFT JOIN users u ON u.id = q.user_id WHERE q.id = v_head;
    WHILE i < v_maxc AND v_ul IS NULL DO
      IF GET_LOCK(CONCAT(p_prefix, ':user:', v_user, ':', i + 1), 0) = 1 THEN
        SET v_ul = CONCAT(p_prefix, ':user:', v_user, ':', i + 1);
      END IF;
      SET i = i + 1;
    END WHILE;
    IF v_maxc > 0 AND v_ul IS NULL THEN
      DO RELEASE_LOCK(v_slot);
      SELECT NULL, 'wait', 0, 0;
      LEAVE step;
    END IF;
    SET @relay_ulock = v_ul;
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
      IF v_ul IS NOT NULL THEN
        DO RELEASE_LOCK(v_ul);
        SET @relay_ulock = NULL;
      END IF;
      SELECT NULL, 'wait', 0, 0;
      LEAVE step;
    END IF;
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
  SELECT v_slot, 'got', IF(p_id > 0, p_id, v_head), 0;
END //

-- 010's relay_release: lets go of the user's lock of a worker's item too.
CREATE OR REPLACE PROCEDURE relay_release(IN p_lock VARCHAR(128),
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_maxwait INT)
BEGIN
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  -- the item's user's concurrency lock, taken by relay_wait's claim
  IF @relay_ulock IS NOT NULL THEN
    DO RELEASE_LOCK(@relay_ulock);
    SET @relay_ulock = NULL;
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
END //

DELIMITER ;

-- 017's relay_finish: when somebody waits, the user's concurrency lock is
-- let go of before the wake (not at the end), so that a polled item of
-- this user, passed over while the lock was held, can be woken for the
-- slot this request frees (else it waited for a worker's next nap, up to
-- 2 s). Only then: the direct path still reads no user row.
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
