-- relay_finish_batch.sql - procedure: many direct requests' finishes in one
-- commit.
-- Called by src/ops/meterd.c (md_flush).
--
-- p_items: a JSON array, one object per direct request (no queue row, no
-- failed tries: src/ops/meterd.c sends only those): a admission id, u user,
-- k key, f format, m model, s stream, st status, p c t prompt / completion
-- / total tokens, kn usage known, l latency ms, e error (absent = none), r
-- route, d day, b the serving backend ({"id", "name", "ok", "translated"},
-- absent = never went upstream), g 1 for a registered fast-path request
-- (src/relay/admit.c), absent for a handed one (relay_handover).
-- Which items this batch writes is decided first, in the transaction: a
-- handed item whose entry is there, a registered one that has no row. The
-- rest is the caller's (relay_finish, one by one): the one row returned
-- holds their admission ids, comma-separated (NULL if none). The rows and
-- their counts in daily_usage are one transaction: one upsert per user and
-- day, the usage trigger standing aside while @relay_batch is set (only
-- here, inside the transaction; every way out clears it). A row written for
-- a registered admission id between that look and the INSERT (its web
-- process metering on its own after losing meterd) fails the INSERT on
-- request_log's unique admit_id: the whole batch rolls back and goes one by
-- one.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_finish_batch(IN p_items LONGTEXT)
BEGIN
  DECLARE v_rest TEXT DEFAULT NULL;
  DECLARE v_handed INT DEFAULT 0;
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
  SELECT GROUP_CONCAT(IF(IF(j.g = 1, EXISTS (SELECT 1 FROM request_log r WHERE r.admit_id = j.a),
                              NOT EXISTS (SELECT 1 FROM inflight i WHERE i.id = j.a)), j.a, NULL)),
         COALESCE(SUM(j.g IS NULL), 0)
    INTO v_rest, v_handed
    FROM JSON_TABLE(p_items, '$[*]' COLUMNS (a BIGINT UNSIGNED PATH '$.a',
           g TINYINT PATH '$.g')) j;
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
     WHERE v_rest IS NULL OR NOT FIND_IN_SET(j.a, v_rest);
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
      JOIN users u ON u.id = j.u
     WHERE v_rest IS NULL OR NOT FIND_IN_SET(j.a, v_rest)
     GROUP BY u.id, COALESCE(j.d, CURDATE())
    ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),
      tokens = tokens + VALUES(tokens), errors = errors + VALUES(errors);
  COMMIT;
  -- after the commit (relay_unreserve's order); registered items have none
  IF v_handed > 0 THEN
    DELETE i FROM inflight i
      JOIN JSON_TABLE(p_items, '$[*]' COLUMNS (a BIGINT UNSIGNED PATH '$.a',
             g TINYINT PATH '$.g')) j ON i.id = j.a
     WHERE j.g IS NULL AND (v_rest IS NULL OR NOT FIND_IN_SET(j.a, v_rest));
  END IF;
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
