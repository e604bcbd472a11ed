-- relay_failover.sql - procedure: another backend's slot for a failed try.
-- Called by src/relay/exchange.c (exchange_failover).
--
-- Failover: lets go of the failed try's slot (p_lock), takes a free slot
-- of another backend serving the request (none of p_exclude, the queue not
-- looked at: the request was admitted and already had its turn), wakes
-- the next in line for the freed slot. One row: the new slot or NULL.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_failover(IN p_lock VARCHAR(128),
    IN p_prefix VARCHAR(64), IN p_slots INT, IN p_first INT, IN p_dflt INT,
    IN p_format VARCHAR(16), IN p_model VARCHAR(255), IN p_exclude VARCHAR(1024),
    IN p_maxwait INT)
BEGIN
  DECLARE v_slot VARCHAR(128) DEFAULT NULL;
  DECLARE v_why INT;
  DECLARE v_first TINYINT;
  IF p_lock IS NOT NULL THEN
    DO RELEASE_LOCK(p_lock);
  END IF;
  CALL relay_take_slot(p_prefix, p_slots, p_first, p_dflt, p_format, p_model,
                       NULL, 0, p_exclude, v_slot, v_why, v_first);
  IF p_lock IS NOT NULL THEN
    CALL relay_wake(p_prefix, p_slots, p_maxwait);
  END IF;
  SELECT v_slot;
END //

DELIMITER ;
