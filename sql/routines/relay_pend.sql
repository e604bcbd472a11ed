-- relay_pend.sql - procedure: a finished request's tokens on its entry.
-- The metering thread's finish (meter_finish, src/meter/mfront.c): the request's
-- tokens on its entry, then every named lock let go (what
-- `DO RELEASE_ALL_LOCKS()` did alone), so the next admission sees them.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_pend(IN p_admit BIGINT UNSIGNED,
    IN p_tokens BIGINT UNSIGNED)
BEGIN
  UPDATE inflight SET tokens = p_tokens WHERE id = p_admit;
  DO RELEASE_ALL_LOCKS();
END //

DELIMITER ;
