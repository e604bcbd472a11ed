-- relay_slot_name.sql - function relay_slot_name (last defined by migration 013).
-- Used by the routines relay_bfree, relay_grab, relay_held_slot,
--   relay_slots_used.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_slot_name(p_prefix VARCHAR(64), p_b INT UNSIGNED,
    p_i INT) RETURNS VARCHAR(128) DETERMINISTIC NO SQL
RETURN IF(p_b = 0, CONCAT(p_prefix, ':slot:', p_i),
          CONCAT(p_prefix, ':slot:', p_b, ':', p_i)) //

DELIMITER ;
