-- relay_reserve.sql - procedure: reserve one request of a limited user's
-- allowance.
-- Called by the routines relay_admit.
--
-- The reservation (replaces relay_admit's daily_usage upsert): a request
-- is admitted when daily_usage.requests + the user's entries in flight is
-- below the request limit and today's tokens below the token limit; it then
-- gets its entry (o_rid, its lock held by this connection). The per-user
-- lock '<prefix>:limit:<user>' serialises the check and the insert of one
-- user's admissions across processes and hosts (only for a user with a
-- request limit; no commit, no fsync). daily_usage and the entries are
-- read in one statement (exact, see relay_inflight). o_used_r counts the
-- requests in flight (the new one included). Without a request limit
-- nothing is counted (o_used_r 0: nobody reads it then) and the user's
-- dead entries are left to the queue workers' sweep, so an unlimited
-- user's admission costs one MEMORY insert and a named lock.

DELIMITER //

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

DELIMITER ;
