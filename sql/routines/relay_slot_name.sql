-- relay_slot_name.sql - function: a backend's slot lock name.
-- Used by the routines relay_bfree, relay_grab, relay_held_slot,
-- relay_slots_used.
--
-- Backend 0 (the legacy settings) keeps the old names
-- '<prefix>:slot:<i>', so a mixed old/new deployment never overshoots the
-- legacy slots; backend N's are '<prefix>:slot:<N>:<i>'.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_slot_name(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_i INT) RETURNS VARCHAR(128) DETERMINISTIC NO SQL
RETURN IF(p_b = 0, CONCAT(p_prefix, ':slot:', p_i),
          CONCAT(p_prefix, ':slot:', p_b, ':', p_i)) //

DELIMITER ;
