-- relay_release.sql - procedure: a queue worker's slot release.
-- Called by src/ops/worker.c (worker_step).
--
-- A queue worker's slot release: free the slot, wake the next in line.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_release(IN p_lock VARCHAR(128),
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_maxwait INT)
BEGIN
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  -- the item's user's concurrency lock, taken by relay_wait's claim
  IF @relay_ulock IS NOT NULL THEN
    DO RELEASE_LOCK(@relay_ulock);
    SET @relay_ulock = NULL;
  END IF;
  CALL relay_wake(p_prefix, p_slots, p_maxwait);
END //

DELIMITER ;
