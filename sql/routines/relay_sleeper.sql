-- relay_sleeper.sql - function: the query id of a sleeping waiter to wake.
-- Used by the routines relay_wake.
--
-- The query id of a sleeper to wake: the inline waiter on connection
-- p_conn, else (p_conn NULL) any sleeping queue worker; NULL if none.

DELIMITER //

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

DELIMITER ;
