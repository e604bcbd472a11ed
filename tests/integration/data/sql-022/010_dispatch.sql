-- 010_dispatch.sql - the queue becomes the dispatcher (issue 10).
--
-- Every upstream slot is busy whenever work waits, in one order for
-- everybody: priority DESC, then arrival (id), across polled items (202,
-- run by queue workers) and inline waiters (clients waiting on their own
-- connection).
--
-- How a waiter waits without polling: MariaDB cannot block on "any of N
-- locks", so a waiter sleeps in relay_wait (DO SLEEP inside the procedure)
-- and whoever frees a slot wakes the first in line with KILL QUERY ID,
-- aimed at exactly that sleeping statement (a query id is unique for the
-- server's lifetime, so a late KILL can never hit a later statement). The
-- check "am I first and is a slot free" and the sleep are one CALL, and a
-- waker releases its slot before it looks for a sleeper, so a wake is never
-- lost: a waiter that started its CALL after the release sees the free slot,
-- one that started before is visible as sleeping. KILL QUERY of one's own
-- threads needs no privilege: every relay process must use the same
-- MariaDB user.
--
-- Liveness: an inline waiter holds the named lock in queue.worker (a random
-- '<prefix>:wait:<hex>') for as long as it waits or forwards; a row whose
-- lock is free has lost its client process and is closed with its one
-- request_log row by whoever sees it first.

ALTER TABLE queue
  ADD COLUMN IF NOT EXISTS wait_conn BIGINT UNSIGNED NULL AFTER worker;

-- Per-user caps (issue 12): 0 = unlimited.
--   max_concurrent: requests of the user in flight at once (forwarding or
--                   waiting inline), held as named locks '<prefix>:user:<id>:<k>'
--   max_queued:     waiting items of the user (polled and inline)
ALTER TABLE users
  ADD COLUMN IF NOT EXISTS max_concurrent INT UNSIGNED NOT NULL DEFAULT 0 AFTER models,
  ADD COLUMN IF NOT EXISTS max_queued INT UNSIGNED NOT NULL DEFAULT 0 AFTER max_concurrent;

-- Queue workers waiting for polled work, so a waker can find one. A row of
-- a dead worker is harmless (its connection id is not in the process list)
-- and is removed when a worker starts.
CREATE TABLE IF NOT EXISTS queue_workers (
  conn_id     BIGINT UNSIGNED NOT NULL,
  host        VARCHAR(255) NOT NULL DEFAULT '',
  pid         INT UNSIGNED NOT NULL DEFAULT 0,
  started_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (conn_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DELIMITER //

-- The first free slot trying from p_first (0 if none), without taking it.
CREATE OR REPLACE FUNCTION relay_free_slot(p_prefix VARCHAR(64), p_slots INT,
    p_first INT) RETURNS INT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE s INT;
  WHILE i < p_slots DO
    SET s = (p_first - 1 + i) MOD p_slots + 1;
    IF IS_FREE_LOCK(CONCAT(p_prefix, ':slot:', s)) = 1 THEN
      RETURN s;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN 0;
END //

-- Closes a waiting or processing inline row whose client process is gone,
-- with its one request_log row (the request was admitted and counted; it
-- ends as an error). Safe to run twice: the row update and the unique
-- request_log.queue_id let only one closer write.
CREATE OR REPLACE PROCEDURE relay_close_dead(IN p_id BIGINT UNSIGNED,
    IN p_why VARCHAR(255))
BEGIN
  UPDATE queue SET status = 'failed', completed_at = NOW(), error_message = p_why,
      http_status = 499, metered = 1
    WHERE id = p_id AND inline_wait = 1 AND status IN ('waiting', 'processing');
  IF ROW_COUNT() = 1 THEN
    INSERT IGNORE INTO request_log (user_id, key_id, queue_id, route, format, model,
        stream, http_status, error)
      SELECT user_id, key_id, id, route, format, model, stream, 499, p_why
        FROM queue WHERE id = p_id;
  END IF;
END //

-- The first due waiting item in the one order, skipping (and closing) inline
-- rows whose waiter died. o_id NULL = nothing waits.
CREATE OR REPLACE PROCEDURE relay_head(IN p_maxwait INT, OUT o_id BIGINT UNSIGNED,
    OUT o_inline TINYINT, OUT o_conn BIGINT UNSIGNED)
BEGIN
  DECLARE v_lock VARCHAR(128);
  DECLARE v_old TINYINT;
  DECLARE n INT DEFAULT 0;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  head: LOOP
    SET v_none = 0, o_id = NULL;
    SELECT id, inline_wait, wait_conn, worker,
           added_at < NOW() - INTERVAL (p_maxwait + 60) SECOND
      INTO o_id, o_inline, o_conn, v_lock, v_old
      FROM queue WHERE status = 'waiting' AND (not_before IS NULL OR not_before <= NOW())
      ORDER BY priority DESC, id LIMIT 1;
    IF v_none = 1 THEN
      SET o_id = NULL;
      LEAVE head;
    END IF;
    IF o_inline = 0 OR (v_old = 0 AND v_lock IS NOT NULL AND
                        IS_USED_LOCK(v_lock) = o_conn) THEN
      LEAVE head;
    END IF;
    CALL relay_close_dead(o_id, 'client gone while queued');
    SET n = n + 1;
    IF n >= 20 THEN
      SET o_id = NULL;
      LEAVE head;
    END IF;
  END LOOP;
END //

-- Wakes whoever should take a free slot now: the first in line if it waits
-- inline, else a sleeping queue worker. Best effort by design (a sleeper
-- missed here wakes at the end of its nap): errors are swallowed.
CREATE OR REPLACE PROCEDURE relay_wake(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT)
wake: BEGIN
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_q BIGINT UNSIGNED;
  DECLARE n INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_q = NULL;
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
  IF NOT EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
    LEAVE wake;
  END IF;
  IF relay_free_slot(p_prefix, p_slots, 1) = 0 THEN
    LEAVE wake;
  END IF;
  CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
  IF v_head IS NULL THEN
    LEAVE wake;
  END IF;
  IF v_inline = 0 THEN
    SET v_conn = NULL;
    SELECT p.ID INTO v_conn FROM information_schema.PROCESSLIST p
      JOIN queue_workers w ON w.conn_id = p.ID
      WHERE p.STATE = 'User sleep' LIMIT 1;
    IF v_conn IS NULL THEN
      LEAVE wake;
    END IF;
  END IF;
  -- The waiter may be between its check and its sleep: look again briefly.
  WHILE n < 5 DO
    SET v_q = NULL;
    SELECT QUERY_ID INTO v_q FROM information_schema.PROCESSLIST
      WHERE ID = v_conn AND STATE = 'User sleep';
    IF v_q IS NOT NULL THEN
      KILL QUERY ID v_q;
      LEAVE wake;
    END IF;
    DO SLEEP(0.001);
    SET n = n + 1;
  END WHILE;
END //

-- One step of waiting. p_id > 0: the caller's own inline row; p_id = 0: a
-- queue worker asking for polled work. If the caller is first in line and a
-- slot is free, takes the slot (and for a worker claims the polled item,
-- holding the item lock '<prefix>:item:<id>'), marks the row processing and
-- wakes the next in line; else sleeps up to p_nap_ms milliseconds (less when first
-- in line) or until woken. One row: slot lock name (NULL if none), state
-- ('got', 'wait', 'gone' = the row is no longer waiting), item id.
CREATE OR REPLACE PROCEDURE relay_wait(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT, IN p_nap_ms INT,
    IN p_maxwait INT)
step: BEGIN
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_head BIGINT UNSIGNED;
  DECLARE v_inline TINYINT;
  DECLARE v_conn BIGINT UNSIGNED;
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item VARCHAR(128);
  DECLARE v_mine TINYINT DEFAULT 0;
  DECLARE v_pass TINYINT DEFAULT 0;
  DECLARE i INT DEFAULT 0;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  -- Check, take or sleep; after the sleep (woken or not) check once more,
  -- so a woken waiter takes its slot in the same round trip.
  pass: LOOP
    IF p_id > 0 THEN
      SET v_none = 0;
      SELECT status INTO v_status FROM queue WHERE id = p_id;
      IF v_none = 1 OR v_status <> 'waiting' THEN
        SELECT NULL, 'gone', p_id;
        LEAVE step;
      END IF;
    END IF;
    CALL relay_head(p_maxwait, v_head, v_inline, v_conn);
    SET v_mine = v_head IS NOT NULL AND
                 ((p_id > 0 AND v_head = p_id) OR (p_id = 0 AND v_inline = 0));
    IF v_mine THEN
      SET i = 0;
      WHILE i < p_slots AND v_slot IS NULL DO
        IF GET_LOCK(CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD p_slots + 1), 0) = 1 THEN
          SET v_slot = CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD p_slots + 1);
        END IF;
        SET i = i + 1;
      END WHILE;
    END IF;
    IF v_slot IS NOT NULL THEN
      IF p_id > 0 THEN
        UPDATE queue SET status = 'processing', started_at = NOW(), attempts = attempts + 1
          WHERE id = p_id AND status = 'waiting';
        IF ROW_COUNT() <> 1 THEN
          DO RELEASE_LOCK(v_slot);
          SELECT NULL, 'gone', p_id;
          LEAVE step;
        END IF;
      ELSE
        -- The worker's claim, as queue_claim did it: the item lock first,
        -- then the row, so a recoverer never sees it without its lock.
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
          SELECT NULL, 'wait', 0;
          LEAVE step;
        END IF;
      END IF;
      CALL relay_wake(p_prefix, p_slots, p_maxwait);
      SELECT v_slot, 'got', IF(p_id > 0, p_id, v_head);
      LEAVE step;
    END IF;
    IF v_pass = 1 THEN
      LEAVE pass;
    END IF;
    SET v_pass = 1;
    IF v_mine THEN
      -- First in line but every slot busy: a slot holder wakes us; the
      -- short nap only bounds the cost of a wake that went astray.
      DO SLEEP(LEAST(p_nap_ms, 2000) / 1000);
    ELSE
      DO SLEEP(p_nap_ms / 1000);
    END IF;
  END LOOP;
  SELECT NULL, 'wait', p_id;
END //

-- A queue worker's slot release: free the slot, wake the next in line.
CREATE OR REPLACE PROCEDURE relay_release(IN p_lock VARCHAR(128),
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_maxwait INT)
BEGIN
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
END //

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
  WHILE i < v_maxc DO
    SET v_ul = CONCAT(p_prefix, ':user:', p_user, ':', i + 1);
    IF IS_USED_LOCK(v_ul) = CONNECTION_ID() THEN
      DO RELEASE_LOCK(v_ul);
    END IF;
    SET i = i + 1;
  END WHILE;
END //

-- Registers an item: the enqueue lock serialises the counts and the insert
-- across processes and hosts so queue_max and the user's max_queued are
-- never overshot. An inline waiter (p_waitlock not NULL) takes its liveness
-- lock before its row exists. One row: id (0 if refused), refusal (0 ok,
-- 1 queue full, 2 the user's max_queued, 3 enqueue lock not had in 10 s).
CREATE OR REPLACE PROCEDURE relay_enqueue(IN p_prefix VARCHAR(64),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_prio INT,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_route VARCHAR(32), IN p_headers TEXT, IN p_body LONGBLOB,
    IN p_queue_max INT, IN p_waitlock VARCHAR(128))
enq: BEGIN
  DECLARE v_max INT UNSIGNED DEFAULT 0;
  DECLARE v_id BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_lock VARCHAR(128) DEFAULT CONCAT(p_prefix, ':enqueue');
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_max = 0;
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
  INSERT INTO queue (user_id, key_id, priority, format, model, stream, inline_wait,
      route, headers, body, worker, wait_conn)
    VALUES (p_user, p_key, p_prio, p_format, p_model, p_stream,
      p_waitlock IS NOT NULL, p_route, p_headers, p_body, p_waitlock,
      IF(p_waitlock IS NULL, NULL, CONNECTION_ID()));
  SET v_id = LAST_INSERT_ID();
  DO RELEASE_LOCK(v_lock);
  IF p_waitlock IS NULL THEN
    CALL relay_release_user(p_prefix, p_user);
  END IF;
  SELECT v_id, 0;
END //

-- call.php's admission (003) with the dispatcher's rules: a waiting item
-- holds back only callers of lower or equal priority while it is due (an
-- item sleeping on Retry-After does not), the user's max_concurrent is a set
-- of named locks taken before the reservation (so a refusal costs nothing
-- of the daily allowance), and the slot comes back as its lock name.
-- Columns as 008's (003's plus the model allow-list), then: slot lock name
-- (NULL if none), user cap refused (1 = max_concurrent reached, nothing
-- reserved).
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
  DECLARE v_maxc INT UNSIGNED DEFAULT 0;
  DECLARE v_admit TINYINT DEFAULT 0;
  DECLARE v_used_r BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_used_t BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_slot INT DEFAULT 0;
  DECLARE v_slotname VARCHAR(128) DEFAULT NULL;
  DECLARE v_capped TINYINT DEFAULT 0;
  DECLARE v_ulock VARCHAR(128) DEFAULT NULL;
  DECLARE v_models TEXT DEFAULT NULL;
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;

  -- A process holds no named lock between requests: anything left over
  -- from an earlier request that could not be metered is let go here.
  DO RELEASE_ALL_LOCKS();
  SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL,
         (k.expires_at IS NOT NULL AND k.expires_at < p_day),
         u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority,
         u.max_concurrent, COALESCE(k.models, u.models)
    INTO v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_maxc, v_models
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
      INSERT INTO daily_usage (user_id, day, requests) VALUES (v_user, p_day, 1)
        ON DUPLICATE KEY UPDATE requests = IF(
          (v_dreq = 0 OR requests < v_dreq) AND (v_dtok = 0 OR tokens < v_dtok),
          requests + 1, requests);
      SET v_admit = IF(ROW_COUNT() > 0, 1, 0);
      -- read admitted or not: the SDK routes report the caller's remaining
      -- allowance (x-ratelimit-remaining-*) on success (008)
      SELECT requests, tokens INTO v_used_r, v_used_t
        FROM daily_usage WHERE user_id = v_user AND day = p_day;
      IF v_admit = 0 THEN
        IF v_maxc > 0 THEN DO RELEASE_LOCK(v_ulock); END IF;
      ELSEIF EXISTS (SELECT 1 FROM queue WHERE status = 'waiting' AND priority >= v_prio
                     AND (not_before IS NULL OR not_before <= NOW())) THEN
        SET v_slot = -1;
      ELSE
        WHILE i < p_slots AND v_slot = 0 DO
          IF GET_LOCK(CONCAT(p_prefix, ':slot:', (p_first - 1 + i) MOD p_slots + 1), 0) = 1 THEN
            SET v_slot = (p_first - 1 + i) MOD p_slots + 1;
            SET v_slotname = CONCAT(p_prefix, ':slot:', v_slot);
          END IF;
          SET i = i + 1;
        END WHILE;
      END IF;
    END IF;
  END IF;
  SELECT v_key, v_hash, v_revoked, v_expired, v_user, v_name, v_enabled,
         v_dreq, v_dtok, v_prio, v_admit, v_used_r, v_used_t, v_slot,
         v_models, v_slotname, v_capped;
END //

-- 008's relay_finish (003's plus p_route), plus: an inline row (p_queue) is closed with the
-- request's outcome and its liveness lock released, the user's concurrency
-- lock is released, and the next in line is woken. The INSERT comes last:
-- if the row was already written (a closer got there first), the duplicate
-- key error reaches the caller after everything else was done.
CREATE OR REPLACE PROCEDURE relay_finish(IN p_lock VARCHAR(128),
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_queue BIGINT UNSIGNED,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_stream TINYINT,
    IN p_status SMALLINT UNSIGNED, IN p_prompt BIGINT UNSIGNED,
    IN p_completion BIGINT UNSIGNED, IN p_total BIGINT UNSIGNED,
    IN p_known TINYINT, IN p_latency INT UNSIGNED, IN p_error VARCHAR(1024),
    IN p_route VARCHAR(32), IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT)
BEGIN
  DECLARE v_wl VARCHAR(128) DEFAULT NULL;
  DECLARE v_inline TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_inline = 0;
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  IF p_queue IS NOT NULL THEN
    SELECT inline_wait, worker INTO v_inline, v_wl FROM queue WHERE id = p_queue;
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
  INSERT INTO request_log (user_id, key_id, queue_id, route, format, model, stream,
      http_status, prompt_tokens, completion_tokens, total_tokens, usage_known,
      latency_ms, error)
    VALUES (p_user, p_key, p_queue, p_route, p_format, p_model, p_stream, p_status,
      p_prompt, p_completion, p_total, p_known, p_latency, p_error);
END //

DELIMITER ;
