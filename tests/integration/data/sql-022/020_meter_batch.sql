-- 020_meter_batch.sql - many direct requests' finishes in one commit (issue 16).
--
-- Measured (mariadb-slap, 16 connections, durable MariaDB): one request_log
-- row per statement costs mariadbd 0.30 ms of CPU, 16 rows in one statement
-- 0.10 ms each, and a direct request's whole relay_finish 0.62 ms. The cost
-- is per statement and per commit, not per row. bin/meterd (src/meterd.c)
-- collects the finishes of every web process of a host and writes what has
-- come in since its last write with this one CALL.
--
-- p_items: a JSON array, one object per direct request (an admission id,
-- no queue row, no failed tries: src/meterd.c sends only those):
--   a admission id, u user, k key, f format, m model, s stream, st status,
--   p c t prompt / completion / total tokens, kn usage known, l latency ms,
--   e error (absent = none), r route, d day,
--   b the serving backend ({"id", "name", "ok", "translated"}, absent =
--   never went upstream).
--
-- The guarantees are relay_finish's, item by item:
--   * the request's in-flight entry is handed to meterd before the record
--     is sent (relay_handover, below): its lock_name becomes meterd's own
--     lock ('<prefix>:md:<random>', held by a connection meterd keeps for it alone, for its
--     life), and the web process lets go of its locks. A sweep takes an
--     entry for dead only when its lock is free: while meterd lives, no
--     sweep touches what it holds, and the batch needs no lock per item;
--     if meterd dies, its lock goes with its connection and the sweep
--     closes the entries (one row each, HTTP 500 relay_swept_why());
--   * a request gets its row here only when its in-flight entry is there:
--     then no row can exist yet (the entry goes only after the commit that
--     wrote the row). The rows and their counts in daily_usage are one
--     transaction; the entries go after its commit. The counts are one
--     upsert per user and day for the whole batch: the usage trigger
--     stands aside while @relay_batch is set (only here, inside the
--     transaction; every way out of it clears it). A trigger per row was
--     half of the batch's cost;
--   * an item whose entry is gone (a MariaDB restart, a sweep after a lost
--     connection) is returned in the result (o_rest, the admission ids,
--     comma-separated) for relay_finish, which handles every such case
--     (it replaces a swept row with the real outcome);
--   * any error rolls the whole batch back: the caller then runs
--     relay_finish for each item, which finds the rows of a batch that did
--     commit by their admission ids.

-- When meterd wrote nothing for an entry it was handed (the web process
-- died between the handover and the send), meterd's periodic check finds
-- it by this time and sweeps it (src/meterd.c).
ALTER TABLE inflight ADD COLUMN IF NOT EXISTS handed_at TIMESTAMP NULL DEFAULT NULL;

-- the usage trigger (016's), standing aside for relay_finish_batch's rows
DROP TRIGGER IF EXISTS request_log_usage;

DELIMITER //

CREATE TRIGGER request_log_usage AFTER INSERT ON request_log
  FOR EACH ROW
BEGIN
  IF @relay_batch IS NULL THEN
    INSERT INTO daily_usage (user_id, day, requests, tokens, errors)
    SELECT id, COALESCE(NEW.day, DATE(NEW.created_at)),
           IF(NEW.admit_id IS NOT NULL AND NEW.queue_id IS NULL, 1, 0),
           NEW.total_tokens,
           IF(NEW.error IS NOT NULL OR NEW.http_status >= 400, 1, 0)
    FROM users WHERE id = NEW.user_id
    ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),
      tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);
  END IF;
END //

-- A web process hands its request's entry to meterd (whose lock p_lock
-- is) and lets go of its locks, slot included. One row: 1 = handed (send
-- the record now), 0 = meterd's lock is not held (meterd or its connection
-- is gone): nothing changed, the locks are kept, meter here.
-- p_slot 1 = the request held an upstream slot: the next in line is woken
-- here, at once, as relay_finish would (not at meterd's batch, which may
-- be meter_batch_ms away).
CREATE OR REPLACE PROCEDURE relay_handover(IN p_admit BIGINT UNSIGNED,
    IN p_lock VARCHAR(128), IN p_slot TINYINT, IN p_prefix VARCHAR(64),
    IN p_slots INT, IN p_maxwait INT)
BEGIN
  IF IS_USED_LOCK(p_lock) IS NULL THEN
    SELECT 0;
  ELSE
    UPDATE inflight SET lock_name = p_lock, handed_at = NOW() WHERE id = p_admit;
    DO RELEASE_ALL_LOCKS();
    IF p_slot = 1 AND EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
      CALL relay_wake(p_prefix, p_slots, p_maxwait);
    END IF;
    SELECT 1;
  END IF;
END //

-- meterd's own lock is held by a connection of its own, not the one that
-- calls this: relay_finish (which the caller runs for what this hands
-- back) lets go of every lock of its connection.
CREATE OR REPLACE PROCEDURE relay_finish_batch(IN p_items LONGTEXT)
BEGIN
  DECLARE v_n INT DEFAULT COALESCE(JSON_LENGTH(p_items), 0);
  DECLARE v_rows INT DEFAULT 0;
  DECLARE v_rest TEXT DEFAULT NULL;
  DECLARE v_b INT UNSIGNED;
  DECLARE v_done TINYINT DEFAULT 0;
  -- the serving backends of successes that have a failure state to clear
  DECLARE cur CURSOR FOR
    SELECT DISTINCT s.backend_id
      FROM JSON_TABLE(p_items, '$[*]' COLUMNS (
             bid INT UNSIGNED PATH '$.b.id', ok TINYINT PATH '$.b.ok')) j
      JOIN backend_state s ON s.backend_id = j.bid
     WHERE j.ok = 1 AND (s.fails > 0 OR s.cool_until IS NOT NULL);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET @relay_batch = NULL;
    ROLLBACK;
    RESIGNAL;
  END;
  IF @@in_transaction = 1 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'relay_finish_batch: called inside a transaction';
  END IF;
  START TRANSACTION;
  SET @relay_batch = 1;
  INSERT INTO request_log (user_id, key_id, queue_id, admit_id, route, format, model,
      stream, http_status, prompt_tokens, completion_tokens, total_tokens,
      usage_known, latency_ms, error, day, backend_id, backend, tries, translated)
    SELECT j.u, j.k, NULL, j.a, COALESCE(j.r, 'call'), j.f, COALESCE(j.m, ''), j.s,
           j.st, j.p, j.c, j.t, j.kn, j.l, j.e, COALESCE(j.d, CURDATE()),
           j.bid, j.bname, 1, COALESCE(j.xl, 0)
      FROM JSON_TABLE(p_items, '$[*]' COLUMNS (
             a BIGINT UNSIGNED PATH '$.a', u INT UNSIGNED PATH '$.u',
             k INT UNSIGNED PATH '$.k', f VARCHAR(16) PATH '$.f',
             m VARCHAR(255) PATH '$.m', s TINYINT PATH '$.s',
             st SMALLINT UNSIGNED PATH '$.st', p BIGINT UNSIGNED PATH '$.p',
             c BIGINT UNSIGNED PATH '$.c', t BIGINT UNSIGNED PATH '$.t',
             kn TINYINT PATH '$.kn', l INT UNSIGNED PATH '$.l',
             e VARCHAR(1024) PATH '$.e', r VARCHAR(32) PATH '$.r', d DATE PATH '$.d',
             bid INT UNSIGNED PATH '$.b.id', bname VARCHAR(64) PATH '$.b.name',
             xl TINYINT PATH '$.b.translated')) j
      JOIN inflight i ON i.id = j.a;
  SET v_rows = ROW_COUNT();
  SET @relay_batch = NULL;
  -- what the trigger would have added, row by row (016's rule: a direct
  -- request counts itself; the user must still exist)
  INSERT INTO daily_usage (user_id, day, requests, tokens, errors)
    SELECT u.id, COALESCE(j.d, CURDATE()), COUNT(*), SUM(j.t),
           SUM(j.e IS NOT NULL OR j.st >= 400)
      FROM JSON_TABLE(p_items, '$[*]' COLUMNS (
             a BIGINT UNSIGNED PATH '$.a', u INT UNSIGNED PATH '$.u',
             st SMALLINT UNSIGNED PATH '$.st', t BIGINT UNSIGNED PATH '$.t',
             e VARCHAR(1024) PATH '$.e', d DATE PATH '$.d')) j
      JOIN inflight i ON i.id = j.a
      JOIN users u ON u.id = j.u
     GROUP BY u.id, COALESCE(j.d, CURDATE())
    ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),
      tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);
  COMMIT;
  -- the items without an entry (rare: see above) are the caller's
  IF v_rows < v_n THEN
    SELECT GROUP_CONCAT(j.a) INTO v_rest
      FROM JSON_TABLE(p_items, '$[*]' COLUMNS (a BIGINT UNSIGNED PATH '$.a')) j
     WHERE NOT EXISTS (SELECT 1 FROM inflight i WHERE i.id = j.a);
  END IF;
  -- after the commit (relay_unreserve's order)
  DELETE i FROM inflight i
    JOIN JSON_TABLE(p_items, '$[*]' COLUMNS (a BIGINT UNSIGNED PATH '$.a')) j ON i.id = j.a;
  IF EXISTS (SELECT 1 FROM backend_state WHERE fails > 0 OR cool_until IS NOT NULL) THEN
    OPEN cur;
    scan: LOOP
      FETCH cur INTO v_b;
      IF v_done = 1 THEN
        LEAVE scan;
      END IF;
      CALL relay_backend_ok(v_b);
    END LOOP;
    CLOSE cur;
  END IF;
  SELECT v_rest;
END //

DELIMITER ;
