-- relay_handover.sql - procedure: hand a request's in-flight entry to meterd.
-- Called by src/meter/meterc.c (mc_handover).
--
-- A web process hands its request's entry to meterd (whose lock p_lock
-- is) and lets go of its locks, slot included. One row: 1 = handed (send
-- the record now), 0 = meterd's lock is not held (meterd or its connection
-- is gone): nothing changed, the locks are kept, meter here.
-- p_slot 1 = the request held an upstream slot: the next in line is woken
-- here, at once, as relay_finish would (not at meterd's batch, which may
-- be meter_batch_ms away).

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_handover(IN p_admit BIGINT UNSIGNED,
    IN p_lock VARCHAR(128), IN p_slot TINYINT, IN p_prefix VARCHAR(64),
    IN p_slots INT, IN p_maxwait INT, IN p_tokens BIGINT UNSIGNED)
BEGIN
  IF IS_USED_LOCK(p_lock) IS NULL THEN
    SELECT 0;
  ELSE
    UPDATE inflight SET lock_name = p_lock, handed_at = NOW(), tokens = p_tokens
      WHERE id = p_admit;
    DO RELEASE_ALL_LOCKS();
    IF p_slot = 1 AND EXISTS (SELECT 1 FROM queue WHERE status = 'waiting') THEN
      CALL relay_wake(p_prefix, p_slots, p_maxwait);
    END IF;
    SELECT 1;
  END IF;
END //

DELIMITER ;
