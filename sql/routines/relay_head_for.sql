-- relay_head_for.sql - procedure: the first due waiting item a backend can
-- serve.
-- Called by the routines relay_take_polled, relay_wake.
--
-- The first due waiting item backend p_b can serve, in the one order.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_head_for(IN p_b INT UNSIGNED, IN p_dflt INT,
    OUT o_id BIGINT UNSIGNED, OUT o_inline TINYINT, OUT o_conn BIGINT UNSIGNED)
BEGIN
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET o_id = NULL;
  SET o_id = NULL;
  SELECT id, inline_wait, wait_conn INTO o_id, o_inline, o_conn FROM queue
    WHERE status = 'waiting' AND (not_before IS NULL OR not_before <= NOW())
      AND relay_serves(p_b, format, model, p_dflt) = 1
    ORDER BY priority DESC, id LIMIT 1;
END //

DELIMITER ;
