-- relay_release_user.sql - procedure: let go of the user's concurrency locks.
-- Called by the routines relay_enqueue, relay_finish.
--
-- Lets go of the user's concurrency locks this connection holds (a 202
-- hands the request to the queue; relay_finish ends a request).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_release_user(IN p_prefix VARCHAR(64),
    IN p_user INT UNSIGNED)
BEGIN
  DECLARE v_maxc INT UNSIGNED DEFAULT 0;
  DECLARE v_ul VARCHAR(128);
  DECLARE i INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_maxc = 0;
  SELECT max_concurrent INTO v_maxc FROM users WHERE id = p_user;
  -- or the config's cap relay_admit applied on this connection
  SET v_maxc = GREATEST(v_maxc, COALESCE(@relay_ucap, 0));
  WHILE i < v_maxc DO
    SET v_ul = CONCAT(p_prefix, ':user:', p_user, ':', i + 1);
    IF IS_USED_LOCK(v_ul) = CONNECTION_ID() THEN
      DO RELEASE_LOCK(v_ul);
    END IF;
    SET i = i + 1;
  END WHILE;
END //

DELIMITER ;
