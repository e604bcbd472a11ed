-- relay_ahead.sql - function: is a due waiting item ahead of a caller, for
-- a backend.
-- Used by the routines relay_take_slot.
--
-- 1 when a due waiting item that backend p_b serves is ahead of a caller
-- of priority p_prio (p_id = its own row, 0 = a new caller, who yields to
-- equal priority as well).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_ahead(p_prefix VARCHAR(64), p_b INT UNSIGNED, p_dflt INT, p_prio INT,
    p_id BIGINT UNSIGNED) RETURNS TINYINT NOT DETERMINISTIC READS SQL DATA
RETURN EXISTS (SELECT 1 FROM queue q LEFT JOIN users u ON u.id = q.user_id
  WHERE q.status = 'waiting'
    AND (q.not_before IS NULL OR q.not_before <= NOW()) AND q.id <> p_id
    AND (q.priority > p_prio OR (q.priority = p_prio AND (p_id = 0 OR q.id < p_id)))
    AND (q.inline_wait = 1 OR COALESCE(u.max_concurrent, 0) = 0 OR
         relay_cap_free(p_prefix, q.user_id, u.max_concurrent) = 1)
    AND relay_serves(p_b, q.format, q.model, p_dflt) = 1) //

DELIMITER ;
