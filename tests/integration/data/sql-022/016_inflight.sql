-- 016_inflight.sql - one durable commit per direct request (issue 16).
--
-- Before: admission reserved the request with a durable upsert of
-- daily_usage (one redo-log fsync) and the finish wrote the request_log row
-- (another). Now a request in flight is an entry in `inflight`, a MEMORY
-- table (no redo log, no fsync), and it becomes durable exactly once, with
-- the first durable write that is about it anyway:
--   * a direct request: its request_log row (the usage trigger counts the
--     request in daily_usage.requests in the same transaction);
--   * a queued request (202 or inline waiter): its queue row (relay_enqueue
--     counts it in daily_usage.requests in the same transaction).
-- The entry is removed only after that commit, so at every moment a request
-- counts in daily_usage, in inflight, or (for an instant) in both: the
-- daily limit is checked against daily_usage.requests + inflight entries,
-- never less than the truth (N concurrent requests never exceed the limit).
--
-- Liveness: the request's connection holds the named lock in
-- inflight.lock_name ('<prefix>:req:<id>') from admission to the end of
-- its finish. An entry whose lock is free belongs to a relay process that
-- died (kill -9) or lost its database connection: whoever sees it first
-- (the user's next admission, a queue worker) takes the lock and writes the
-- request's one request_log row (HTTP 500, relay_swept_why()), which counts
-- it. If the relay was alive after all (it only lost its connection), its
-- finish replaces that row with the real outcome, so the request still
-- ends as exactly one row, counted once.
--
-- A MariaDB restart empties `inflight`: a request in flight then counts
-- when its finish writes its row (meter_record runs it on the new
-- connection; the row carries the admission id, so it counts once). Until
-- then the limit check does not see it; relay processes holding a slot put
-- their entry back within 200 ms (relay_rebind, from the exchange's
-- connection check), and admissions of limited users wait for the first
-- relay_restart_grace() seconds of the server's uptime, so they see those
-- entries.

CREATE TABLE IF NOT EXISTS inflight (
  id           BIGINT UNSIGNED NOT NULL,       -- UUID_SHORT(): unique across restarts
  user_id      INT UNSIGNED NOT NULL,
  key_id       INT UNSIGNED NOT NULL,
  day          DATE NOT NULL,                  -- the local day it counts on
  conn_id      BIGINT UNSIGNED NOT NULL,
  lock_name    VARCHAR(128) CHARACTER SET ascii NOT NULL,
  admitted_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_inflight_user USING BTREE (user_id, day)
) ENGINE=MEMORY DEFAULT CHARSET=utf8mb4;

-- Empty after every MariaDB start (MEMORY): the first admission of a
-- limited user after a start looks at the server's uptime (the grace
-- below), later ones see this row and do not.
CREATE TABLE IF NOT EXISTS inflight_boot (
  id  TINYINT UNSIGNED NOT NULL,
  PRIMARY KEY (id)
) ENGINE=MEMORY;

-- The admission id of the request a row is about: a direct request's log
-- row counts its request (unique: once); a queue row carries it so a sweep
-- can see that the request became durable there.
ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS admit_id BIGINT UNSIGNED NULL AFTER queue_id,
  ADD UNIQUE KEY IF NOT EXISTS uq_request_log_admit (admit_id);
-- the archive (015) keeps request_log's columns, in the same order, for
-- its INSERT ... SELECT * (without the unique key: ids are archived once)
ALTER TABLE request_log_archive
  ADD COLUMN IF NOT EXISTS admit_id BIGINT UNSIGNED NULL AFTER queue_id;
ALTER TABLE queue
  ADD COLUMN IF NOT EXISTS admit_id BIGINT UNSIGNED NULL,
  ADD KEY IF NOT EXISTS ix_queue_admit (admit_id);

-- 012's trigger, plus: a row with an admission id and no queue item counts
-- its request (a queued request was counted when its queue row was
-- written).
DROP TRIGGER IF EXISTS request_log_usage;

CREATE TRIGGER request_log_usage AFTER INSERT ON request_log
  FOR EACH ROW
  INSERT INTO daily_usage (user_id, day, requests, tokens, errors)
  SELECT id, COALESCE(NEW.day, DATE(NEW.created_at)),
         IF(NEW.admit_id IS NOT NULL AND NEW.queue_id IS NULL, 1, 0),
         NEW.total_tokens,
         IF(NEW.error IS NOT NULL OR NEW.http_status >= 400, 1, 0)
  FROM users WHERE id = NEW.user_id
  ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),
    tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);

DELIMITER //

-- The error of a row written for a request whose relay process ended
-- before it metered (a finish that comes after all replaces such a row).
CREATE OR REPLACE FUNCTION relay_swept_why() RETURNS VARCHAR(64) DETERMINISTIC NO SQL
  RETURN 'relay process ended before metering' //

-- Seconds after a MariaDB start during which admissions of users with a
-- request limit wait: relay processes holding a slot put their in-flight
-- entries back meanwhile (they check their connection every 200 ms).
CREATE OR REPLACE FUNCTION relay_restart_grace() RETURNS INT DETERMINISTIC NO SQL
  RETURN 2 //

-- Today's requests of a user as members and limits see them: durable ones
-- plus those in flight, in one statement (relay_inflight: 019).
CREATE OR REPLACE FUNCTION relay_requests_used(p_user INT UNSIGNED, p_day DATE)
    RETURNS BIGINT UNSIGNED NOT DETERMINISTIC READS SQL DATA
  RETURN COALESCE((SELECT requests FROM daily_usage WHERE user_id = p_user AND day = p_day), 0)
         + relay_inflight(p_user, p_day) //

-- Ends one in-flight entry whose relay process is gone: takes its lock (so
-- its owner, should it come back, waits for this to finish), writes the
-- request's one log row unless the request is already durable (a log row
-- or a queue row with its id: the owner died between that commit and
-- removing the entry), and removes the entry. Safe to run twice.
CREATE OR REPLACE PROCEDURE relay_sweep_one(IN p_id BIGINT UNSIGNED)
sweep: BEGIN
  DECLARE v_lock VARCHAR(128) DEFAULT NULL;
  DECLARE v_user INT UNSIGNED;
  DECLARE v_key INT UNSIGNED;
  DECLARE v_day DATE;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_lock = NULL;
  SELECT lock_name INTO v_lock FROM inflight WHERE id = p_id;
  IF v_lock IS NULL OR GET_LOCK(v_lock, 0) <> 1 THEN
    LEAVE sweep;
  END IF;
  SET v_user = NULL;
  SELECT user_id, key_id, day INTO v_user, v_key, v_day FROM inflight WHERE id = p_id;
  IF v_user IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM queue WHERE admit_id = p_id) THEN
      INSERT IGNORE INTO request_log (user_id, key_id, admit_id, route, format, model,
          stream, http_status, error, day)
        VALUES (v_user, v_key, p_id, 'call', '', '', 0, 500, relay_swept_why(), v_day);
    END IF;
    DELETE FROM inflight WHERE id = p_id;
  END IF;
  DO RELEASE_LOCK(v_lock);
END //

-- Sweeps up to p_max dead entries (p_user 0 = anyone's).
CREATE OR REPLACE PROCEDURE relay_sweep(IN p_user INT UNSIGNED, IN p_max INT)
BEGIN
  DECLARE v_id BIGINT UNSIGNED;
  DECLARE n INT DEFAULT 0;
  DECLARE v_skip INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_id = NULL;
  sweeping: WHILE n < p_max DO
    SET v_id = NULL;
    SELECT id INTO v_id FROM inflight
      WHERE (p_user = 0 OR user_id = p_user) AND IS_USED_LOCK(lock_name) IS NULL
      ORDER BY id LIMIT 1 OFFSET v_skip;
    IF v_id IS NULL THEN
      LEAVE sweeping;
    END IF;
    CALL relay_sweep_one(v_id);
    IF EXISTS (SELECT 1 FROM inflight WHERE id = v_id) THEN
      SET v_skip = v_skip + 1;   -- its owner came back meanwhile
    END IF;
    SET n = n + 1;
  END WHILE;
END //

-- relay_reserve: defined in 019 (the view of the entries not yet durable).

-- A relay process whose database connection was re-made during its
-- exchange (a MariaDB restart empties `inflight`; a lost connection frees
-- the entry's lock) puts its entry back: takes the lock again and re-adds
-- the entry unless the request is already durable (or the entry is there).
-- One row: 1 if the entry is held now, 0 if the request already has its
-- row (a sweep wrote it; the finish will replace it).
CREATE OR REPLACE PROCEDURE relay_rebind(IN p_admit BIGINT UNSIGNED,
    IN p_user INT UNSIGNED, IN p_key INT UNSIGNED, IN p_day DATE,
    IN p_prefix VARCHAR(64))
BEGIN
  DECLARE v_lock VARCHAR(128) DEFAULT CONCAT(p_prefix, ':req:', p_admit);
  IF IS_USED_LOCK(v_lock) IS NULL OR IS_USED_LOCK(v_lock) <> CONNECTION_ID() THEN
    DO GET_LOCK(v_lock, 5);
  END IF;
  IF EXISTS (SELECT 1 FROM request_log WHERE admit_id = p_admit) THEN
    SELECT 0;
  ELSE
    INSERT IGNORE INTO inflight (id, user_id, key_id, day, conn_id, lock_name)
      VALUES (p_admit, p_user, p_key, p_day, CONNECTION_ID(), v_lock);
    UPDATE inflight SET conn_id = CONNECTION_ID() WHERE id = p_admit;
    SELECT 1;
  END IF;
END //

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

-- After the commit that made the request durable: its entry goes, then its
-- lock (in this order, so a sweep never sees the entry unlocked).
CREATE OR REPLACE PROCEDURE relay_unreserve(IN p_admit BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64))
BEGIN
  IF p_admit IS NOT NULL THEN
    DELETE FROM inflight WHERE id = p_admit;
    IF p_prefix IS NOT NULL THEN
      DO RELEASE_LOCK(CONCAT(p_prefix, ':req:', p_admit));
    END IF;
  END IF;
END //

-- 010's relay_enqueue plus p_admit: the queue row and the request's count
-- in daily_usage.requests are one transaction (the request becomes durable
-- with its queue row, which needs its commit anyway), and the entry goes
-- after it. Refusal 3 also when the request is already closed by a sweep
-- (this process lost its connection since its admission).
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
