-- relay_unreserve.sql - procedure: drop a durable request's in-flight entry.
-- Called by the routines relay_enqueue.
--
-- After the commit that made the request durable: its entry goes, then its
-- lock (in this order, so a sweep never sees the entry unlocked).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_unreserve(IN p_admit BIGINT UNSIGNED,
    IN p_prefix VARCHAR(64))
BEGIN
  IF p_admit IS NOT NULL THEN
    DELETE FROM inflight WHERE id = p_admit;
    IF p_prefix IS NOT NULL THEN
      DO RELEASE_LOCK(CONCAT(p_prefix, ':req:', p_admit));
    END IF;
  END IF;
END //

DELIMITER ;
