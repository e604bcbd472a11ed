-- relay_head_for.sql - procedure: the first due waiting item a backend can
-- serve.
-- Called by the routines relay_take_polled, relay_wake.
--
-- The first due waiting item backend p_b can serve, in the one order.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_head_for(IN p_prefix VARCHAR(64), IN p_b INT UNSIGNED, IN p_dflt INT,
    OUT o_id BIGINT UNSIGNED, OUT o_inline TINYINT, OUT o_conn BIGINT UNSIGNED)
BEGIN
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET o_id = NULL;
  SET o_id = NULL;
  SELECT q.id, q.inline_wait, q.wait_conn INTO o_id, o_inline, o_conn
    FROM queue q LEFT JOIN users u ON u.id = q.user_id
    WHERE q.status = 'waiting' AND (q.not_before IS NULL OR q.not_before <= NOW())
      AND (q.inline_wait = 1 OR COALESCE(u.max_concurrent, 0) = 0 OR
           relay_cap_free(p_prefix, q.user_id, u.max_concurrent) = 1)
      AND relay_serves(p_b, q.format, q.model, p_dflt) = 1
    ORDER BY q.priority DESC, q.id LIMIT 1;
END //

DELIMITER ;
