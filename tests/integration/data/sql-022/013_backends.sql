-- 013_backends.sql - several upstream accounts in one pool (issue 13).
--
-- A backend is one upstream account: its format, base URL, key (sealed
-- with AES-256-GCM by the binaries; the database never sees it in clear),
-- its own concurrency (slots), a weight, the models it serves and an
-- optional client model -> upstream model mapping. The legacy settings
-- (openai_url / anthropic_url / upstream_api_key / upstream_slots) are the
-- implicit backend 0, "default": it is no row here, serves both formats its
-- URLs are set for (the binaries pass that as p_dflt: 1 = OpenAI, 2 =
-- Anthropic) and keeps the old slot names '<prefix>:slot:<i>', so a mixed
-- old/new deployment never overshoots the legacy slots. Backend N's slots
-- are '<prefix>:slot:<N>:<i>'.
--
-- Dispatch, per backend: a caller takes a free slot of backend B (weighted
-- among the free ones) only when no due waiting item that B can serve is
-- ahead of it (priority DESC, then id), so an idle backend is never held
-- back by a queue for another model, and order among those competing for
-- B stays the queue's one order.
--
-- Health (passive): a failed try counts in backend_state.fails; at the
-- binaries' threshold the backend gets cool_until (backoff); while
-- cool_until is in the future it has no slots, after it one slot (one
-- probe at a time) until a success clears the state. Writes happen only on
-- failures and on the recovery, never on an ordinary success.

CREATE TABLE IF NOT EXISTS backends (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name        VARCHAR(64) NOT NULL,
  format      ENUM('openai','anthropic') NOT NULL,
  base_url    VARCHAR(2048) NOT NULL,
  auth        ENUM('bearer','x-api-key') NOT NULL DEFAULT 'bearer',
  key_sealed  VARBINARY(2200) NULL,          -- nonce | ciphertext | tag
  key_last4   VARCHAR(4) NOT NULL DEFAULT '',
  slots       INT UNSIGNED NOT NULL DEFAULT 1,
  weight      INT UNSIGNED NOT NULL DEFAULT 1,
  enabled     TINYINT(1) NOT NULL DEFAULT 1,
  models      TEXT NULL,                     -- comma-separated names/globs, NULL = all
  model_map   TEXT NULL,                     -- ordered "pattern=target" pairs, comma-separated
  mode        ENUM('pass','translate') NOT NULL DEFAULT 'pass',
  preset      VARCHAR(32) NOT NULL DEFAULT '',
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_backends_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Health per backend; backend_id 0 is the implicit default.
CREATE TABLE IF NOT EXISTS backend_state (
  backend_id   INT UNSIGNED NOT NULL,
  fails        INT UNSIGNED NOT NULL DEFAULT 0,   -- consecutive failed tries
  cool_until   DATETIME(3) NULL,                  -- NULL = healthy
  last_status  SMALLINT UNSIGNED NULL,
  last_error   VARCHAR(300) NULL,
  last_fail_at DATETIME NULL,
  last_ok_at   DATETIME NULL,
  PRIMARY KEY (backend_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Bumped by every change of a backend: a process reloads its copy (URLs,
-- keys, mappings) when the number moved.
CREATE TABLE IF NOT EXISTS backend_gen (
  id   TINYINT UNSIGNED NOT NULL,
  gen  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
INSERT IGNORE INTO backend_gen (id, gen) VALUES (1, 0);

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS backend_id INT UNSIGNED NULL AFTER route,
  ADD COLUMN IF NOT EXISTS backend VARCHAR(64) NULL AFTER backend_id,
  ADD COLUMN IF NOT EXISTS tries TINYINT UNSIGNED NOT NULL DEFAULT 1 AFTER backend;

-- The tries of a request that failed over (a request served on its first
-- try has its one try in request_log itself).
CREATE TABLE IF NOT EXISTS request_tries (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  log_id      BIGINT UNSIGNED NOT NULL,
  try_no      TINYINT UNSIGNED NOT NULL,
  backend_id  INT UNSIGNED NOT NULL,
  backend     VARCHAR(64) NOT NULL DEFAULT '',
  http_status SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  latency_ms  INT UNSIGNED NOT NULL DEFAULT 0,
  error       VARCHAR(300) NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY ix_request_tries_log (log_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

DELIMITER //

-- relay_glob_any, relay_serves: in 018 (case-sensitive, an exact list
-- without a function call).

-- The slots backend p_b may use now: 0 while it cools down, 1 (one probe)
-- after its cool-down until a success clears it, else its own count.
CREATE OR REPLACE FUNCTION relay_bslots(p_b INT UNSIGNED, p_slots INT)
    RETURNS INT NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_n INT DEFAULT 0;
  DECLARE v_cool DATETIME(3) DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_cool = NULL;
  IF p_b = 0 THEN
    SET v_n = p_slots;
  ELSE
    SELECT slots INTO v_n FROM backends WHERE id = p_b;
  END IF;
  SET v_cool = NULL;
  SELECT cool_until INTO v_cool FROM backend_state WHERE backend_id = p_b;
  IF v_cool IS NOT NULL THEN
    RETURN IF(v_cool > NOW(3), 0, LEAST(v_n, 1));
  END IF;
  RETURN v_n;
END //

CREATE OR REPLACE FUNCTION relay_slot_name(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_i INT) RETURNS VARCHAR(128) DETERMINISTIC NO SQL
RETURN IF(p_b = 0, CONCAT(p_prefix, ':slot:', p_i),
          CONCAT(p_prefix, ':slot:', p_b, ':', p_i)) //

-- The first free slot of backend p_b trying from p_first (0 if none).
CREATE OR REPLACE FUNCTION relay_bfree(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_n INT, p_first INT) RETURNS INT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE s INT;
  WHILE i < p_n DO
    SET s = (p_first - 1 + i) MOD p_n + 1;
    IF IS_FREE_LOCK(relay_slot_name(p_prefix, p_b, s)) = 1 THEN
      RETURN s;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN 0;
END //

-- 1 when a due waiting item that backend p_b serves is ahead of a caller
-- of priority p_prio (p_id = its own row, 0 = a new caller, who yields to
-- equal priority as well).
CREATE OR REPLACE FUNCTION relay_ahead(p_b INT UNSIGNED, p_dflt INT, p_prio INT,
    p_id BIGINT UNSIGNED) RETURNS TINYINT NOT DETERMINISTIC READS SQL DATA
RETURN EXISTS (SELECT 1 FROM queue q WHERE q.status = 'waiting'
    AND (q.not_before IS NULL OR q.not_before <= NOW()) AND q.id <> p_id
    AND (q.priority > p_prio OR (q.priority = p_prio AND (p_id = 0 OR q.id < p_id)))
    AND relay_serves(p_b, q.format, q.model, p_dflt) = 1) //

-- Takes a free slot of backend p_b (trying from p_first), or o_slot NULL.
CREATE OR REPLACE PROCEDURE relay_grab(IN p_prefix VARCHAR(64), IN p_b INT UNSIGNED,
    IN p_slots INT, IN p_first INT, OUT o_slot VARCHAR(128))
BEGIN
  DECLARE v_n INT DEFAULT relay_bslots(p_b, p_slots);
  DECLARE i INT DEFAULT 0;
  DECLARE v_name VARCHAR(128);
  SET o_slot = NULL;
  WHILE i < v_n AND o_slot IS NULL DO
    SET v_name = relay_slot_name(p_prefix, p_b, (p_first - 1 + i) MOD v_n + 1);
    IF GET_LOCK(v_name, 0) = 1 THEN
      SET o_slot = v_name;
    END IF;
    SET i = i + 1;
  END WHILE;
END //

-- relay_take_slot: in 018 (backend priority).

-- The first due waiting item backend p_b can serve, in the one order.
CREATE OR REPLACE PROCEDURE relay_head_for(IN p_b INT UNSIGNED, IN p_dflt INT,
    OUT o_id BIGINT UNSIGNED, OUT o_inline TINYINT, OUT o_conn BIGINT UNSIGNED)
BEGIN
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET o_id = NULL;
  SET o_id = NULL;
  SELECT id, inline_wait, wait_conn INTO o_id, o_inline, o_conn FROM queue
    WHERE status = 'waiting' AND (not_before IS NULL OR not_before <= NOW())
      AND relay_serves(p_b, format, model, p_dflt) = 1
    ORDER BY priority DESC, id LIMIT 1;
END //

-- relay_take_polled: in 018 (backend priority).

-- The slot lock of any backend this connection holds, or NULL.
CREATE OR REPLACE FUNCTION relay_held_slot(p_prefix VARCHAR(64), p_slots INT)
    RETURNS VARCHAR(128) NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_n INT;
  DECLARE i INT;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_found VARCHAR(128) DEFAULT NULL;
  DECLARE cur CURSOR FOR SELECT 0, p_slots FROM DUAL
    UNION ALL SELECT id, slots FROM backends;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b, v_n;
    IF v_done = 1 OR v_found IS NOT NULL THEN
      LEAVE scan;
    END IF;
    SET i = 1;
    WHILE i <= v_n AND v_found IS NULL DO
      IF IS_USED_LOCK(relay_slot_name(p_prefix, v_b, i)) = CONNECTION_ID() THEN
        SET v_found = relay_slot_name(p_prefix, v_b, i);
      END IF;
      SET i = i + 1;
    END WHILE;
  END LOOP;
  CLOSE cur;
  RETURN v_found;
END //

-- 011's relay_wait with backends: the caller (an inline row) takes a slot
-- of any backend that serves its item and for which it is first in line;
-- a queue worker (p_id = 0) takes a polled item that is first in line for
-- a backend with a free slot. p_dflt: the default backend's formats. Same
-- row as 011's.
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
    UPDATE queue SET status = 'processing', started_at = NOW(), attempts = attempts + 1
      WHERE id = p_id AND status = 'waiting';
    IF ROW_COUNT() <> 1 THEN
      DO RELEASE_LOCK(v_slot);
      SELECT NULL, 'gone', p_id, 0;
      LEAVE step;
    END IF;
  ELSE
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
      SELECT NULL, 'wait', 0, 0;
      LEAVE step;
    END IF;
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
  SELECT v_slot, 'got', IF(p_id > 0, p_id, v_head), 0;
END //

-- The query id of a sleeper to wake: the inline waiter on connection
-- p_conn, else (p_conn NULL) any sleeping queue worker; NULL if none.
CREATE OR REPLACE FUNCTION relay_sleeper(p_conn BIGINT UNSIGNED)
    RETURNS BIGINT UNSIGNED NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_q BIGINT UNSIGNED;
  DECLARE n INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_q = NULL;
  -- The waiter may be between its check and its nap: look a few times.
  WHILE n < 20 DO
    SET v_q = NULL;
    IF p_conn IS NULL THEN
      SELECT p.QUERY_ID INTO v_q FROM information_schema.PROCESSLIST p
        JOIN queue_workers w ON w.conn_id = p.ID
        WHERE p.STATE = 'User sleep' LIMIT 1;
    ELSE
      SELECT QUERY_ID INTO v_q FROM information_schema.PROCESSLIST
        WHERE ID = p_conn AND STATE = 'User sleep';
    END IF;
    IF v_q IS NOT NULL THEN
      RETURN v_q;
    END IF;
    SET n = n + 1;
  END WHILE;
  RETURN NULL;
END //

-- 011's relay_wake with backends: for each backend with a free slot (at
-- most four), wakes the first in line it can serve. The default backend
-- is taken to serve both formats here (the waker does not know which are
-- configured; a waiter woken for nothing looks and naps again). Best
-- effort, errors swallowed, never sleeps.
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
    CALL relay_head_for(v_b, 3, v_head, v_inline, v_conn);
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

-- 011's relay_wait_resume with the slot of any backend (relay_held_slot).
CREATE OR REPLACE PROCEDURE relay_wait_resume(IN p_id BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_maxwait INT)
step: BEGIN
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_item BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_none TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_none = 1;
  SET v_slot = relay_held_slot(p_prefix, p_slots);
  IF p_id > 0 THEN
    SELECT status INTO v_status FROM queue WHERE id = p_id;
    IF v_slot IS NOT NULL AND v_status = 'processing' THEN
      SELECT v_slot, 'got', p_id, 0;
    ELSEIF v_status = 'waiting' THEN
      IF v_slot IS NOT NULL THEN
        DO RELEASE_LOCK(v_slot);
        CALL relay_wake(p_prefix, p_slots, p_maxwait);
      END IF;
      SELECT NULL, 'wait', p_id, 0;
    ELSE
      IF v_slot IS NOT NULL THEN
        DO RELEASE_LOCK(v_slot);
      END IF;
      SELECT NULL, 'gone', p_id, 0;
    END IF;
    LEAVE step;
  END IF;
  SELECT id INTO v_item FROM queue
    WHERE status = 'processing' AND worker LIKE CONCAT(p_prefix, ':item:%')
      AND IS_USED_LOCK(worker) = CONNECTION_ID() LIMIT 1;
  IF v_item IS NOT NULL AND v_slot IS NOT NULL THEN
    SELECT v_slot, 'got', v_item, 0;
    LEAVE step;
  END IF;
  IF v_item IS NOT NULL THEN
    UPDATE queue SET status = 'waiting', started_at = NULL, worker = NULL,
        attempts = GREATEST(attempts, 1) - 1
      WHERE id = v_item AND status = 'processing';
  END IF;
  DO RELEASE_ALL_LOCKS();
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
  SELECT NULL, 'wait', 0, 0;
END //

-- Failover: lets go of the failed try's slot (p_lock), takes a free slot
-- of another backend serving the request (none of p_exclude, the queue not
-- looked at: the request was admitted and already had its turn), wakes
-- the next in line for the freed slot. One row: the new slot or NULL.
CREATE OR REPLACE PROCEDURE relay_failover(IN p_lock VARCHAR(128),
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT, IN p_dflt INT,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_exclude VARCHAR(1024),
    IN p_maxwait INT)
BEGIN
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_why INT;
  DECLARE v_first TINYINT;
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  CALL relay_take_slot(p_prefix, p_slots, p_first, p_dflt, p_format, p_model,
                       NULL, 0, p_exclude, v_slot, v_why, v_first);
  IF p_lock IS NOT NULL THEN
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
  SELECT v_slot;
END //

-- A failed try on backend p_b: counts it, and from the p_threshold-th
-- failure in a row cools the backend down for p_base * 2^(extra failures)
-- seconds (at most p_max); an upstream Retry-After (p_ra > 0) cools it at
-- least that long.
CREATE OR REPLACE PROCEDURE relay_backend_fail(IN p_b INT UNSIGNED,
    IN p_status SMALLINT UNSIGNED, IN p_error VARCHAR(300), IN p_ra INT,
    IN p_threshold INT, IN p_base INT, IN p_max INT)
BEGIN
  INSERT INTO backend_state (backend_id, fails, last_status, last_error, last_fail_at)
    VALUES (p_b, 1, p_status, p_error, NOW())
    ON DUPLICATE KEY UPDATE fails = fails + 1, last_status = VALUES(last_status),
      last_error = VALUES(last_error), last_fail_at = NOW();
  UPDATE backend_state SET cool_until = NOW(3) + INTERVAL GREATEST(
      IF(fails >= p_threshold,
         LEAST(p_max, p_base * POW(2, LEAST(fails - p_threshold, 20))), 0),
      GREATEST(p_ra, 0)) SECOND
    WHERE backend_id = p_b AND (fails >= p_threshold OR p_ra > 0);
END //

-- A success of backend p_b outside relay_finish (relayctl backend test,
-- the worker's probe): clears its failure state.
CREATE OR REPLACE PROCEDURE relay_backend_ok(IN p_b INT UNSIGNED)
  UPDATE backend_state SET fails = 0, cool_until = NULL, last_ok_at = NOW()
    WHERE backend_id = p_b AND (fails > 0 OR cool_until IS NOT NULL) //

-- A change of any backend (relayctl, the console): processes reload. The
-- number is the time in microseconds (at least +1), so it never comes
-- back to a value a process has seen even if the row was deleted.
CREATE OR REPLACE PROCEDURE relay_backend_bump()
  INSERT INTO backend_gen (id, gen)
    VALUES (1, CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED))
    ON DUPLICATE KEY UPDATE gen = GREATEST(gen + 1, VALUES(gen)) //

-- Slots of backend p_b held now (status.php, the console).
CREATE OR REPLACE FUNCTION relay_slots_used(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_n INT) RETURNS INT NOT DETERMINISTIC NO SQL
BEGIN
  DECLARE i INT DEFAULT 1;
  DECLARE v_used INT DEFAULT 0;
  WHILE i <= p_n DO
    IF IS_USED_LOCK(relay_slot_name(p_prefix, p_b, i)) IS NOT NULL THEN
      SET v_used = v_used + 1;
    END IF;
    SET i = i + 1;
  END WHILE;
  RETURN v_used;
END //

-- relay_admit (slot per backend: CALL relay_take_slot for p_format /
-- p_model, p_dflt = the default backend's formats; slot column -2 when no
-- backend serves them) and relay_finish (p_backend: the serving backend,
-- its failed tries into request_tries) are defined once, with the
-- in-flight reservation of issue 16, in 016_inflight.sql.

DELIMITER ;
