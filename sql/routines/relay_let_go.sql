-- relay_let_go.sql - procedure: the end of a fast-path request on its
-- connection.
-- Called by src/meter/meterc.c (meterc_finish).
--
-- The finish of a fast-path request (src/relay/admit.c) on its own
-- connection once its record is with meterd: every named lock let go (the
-- slot) and the next in line woken if anybody waits.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_let_go(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_maxwait INT)
BEGIN
  DO RELEASE_ALL_LOCKS();
  IF EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
END //

DELIMITER ;
