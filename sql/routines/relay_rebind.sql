-- relay_rebind.sql - procedure: put a request's in-flight entry back after
-- a reconnect.
-- Called by src/relay/exchange.c (exchange_rebind).
--
-- A relay process whose database connection was re-made during its
-- exchange (a MariaDB restart empties `inflight`; a lost connection frees
-- the entry's lock) puts its entry back: takes the lock again and re-adds
-- the entry unless the request is already durable (or the entry is there).
-- One row: 1 if the entry is held now, 0 if the request already has its
-- row (a sweep wrote it; the finish will replace it).

DELIMITER //

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

DELIMITER ;
