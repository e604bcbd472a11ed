-- relay_let_go.sql - procedure relay_let_go (last defined by migration 021).
-- Used by the binaries: src/meter/meterc.c (meterc_finish).

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
