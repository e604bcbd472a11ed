-- relay_take_slot.sql - procedure: take a slot of a backend serving a request.
-- Called by the routines relay_admit, relay_failover, relay_wait.
--
-- Takes a slot for a request of p_format / p_model: among the backends
-- that serve it, have a free slot, are not in p_exclude (",id,id,") and
-- (p_prio not NULL) have nobody ahead, one of the highest priority chosen
-- by weight (the lower ones only when those slots went meanwhile).
-- o_slot = the lock name or NULL; o_why: 0 got, 1 every serving backend
-- busy, 2 a slot is free but others are ahead, 3 no backend serves it at
-- all; o_first = 1 when nobody is ahead for some serving backend (a short
-- nap). A model with entries in model_backends (sql/schema/028_models.sql)
-- is served by those backends only (its model enabled), under the entry's
-- weight; the default never serves it; other models as before.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_take_slot(IN p_prefix VARCHAR(64), IN p_slots INT,
    IN p_first INT, IN p_dflt INT, IN p_format VARCHAR(16), IN p_model VARCHAR(255),
    IN p_prio INT, IN p_id BIGINT UNSIGNED, IN p_exclude VARCHAR(1024),
    OUT o_slot VARCHAR(128), OUT o_why INT, OUT o_first TINYINT)
proc: BEGIN
  DECLARE v_b INT UNSIGNED;
  DECLARE v_w INT UNSIGNED;
  DECLARE v_n INT;
  DECLARE v_s INT;
  DECLARE v_done TINYINT DEFAULT 0;
  DECLARE v_served TINYINT DEFAULT 0;
  DECLARE v_free TINYINT DEFAULT 0;
  DECLARE v_list TEXT DEFAULT '';
  DECLARE v_total BIGINT DEFAULT 0;
  DECLARE v_r DOUBLE;
  DECLARE v_item TEXT;
  DECLARE v_pos INT;
  DECLARE v_waiting TINYINT DEFAULT 0;
  DECLARE v_p INT;
  DECLARE v_top INT DEFAULT NULL;
  DECLARE v_rest TEXT DEFAULT '';
  -- the serving backends only (relay_serves' rule inline: one scan of a
  -- small table, no statement per backend, a function call only for a
  -- list with globs or a mapping)
  DECLARE cur CURSOR FOR
    SELECT 0, 1, 0 FROM DUAL WHERE (p_dflt & IF(p_format = 'anthropic', 2, 1)) <> 0
      AND NOT EXISTS (SELECT 1 FROM models m JOIN model_backends mb ON mb.model_id = m.id
                      WHERE m.name = p_model)
    UNION ALL
    SELECT b.id, COALESCE(e.weight, b.weight), b.priority FROM backends b
      LEFT JOIN (SELECT mb.backend_id, mb.weight FROM models m
                 JOIN model_backends mb ON mb.model_id = m.id
                 WHERE m.name = p_model AND m.enabled = 1) e ON e.backend_id = b.id
      WHERE b.enabled = 1 AND b.format = p_format
      AND IF(EXISTS (SELECT 1 FROM models m JOIN model_backends mb ON mb.model_id = m.id
                     WHERE m.name = p_model), e.backend_id IS NOT NULL,
          b.models IS NULL OR TRIM(b.models) = ''
           OR IF(LOCATE('*', b.models) = 0, FIND_IN_SET(p_model, REPLACE(b.models, ' ', '')) > 0,
                 relay_glob_any(b.models, p_model, 0) = 1)
           OR (b.model_map IS NOT NULL AND relay_glob_any(b.model_map, p_model, 1) = 1))
    ORDER BY 3 DESC, 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  SET o_slot = NULL, o_why = 3, o_first = 0;
  -- nobody waits (the common case): no line to look at per backend
  SET v_waiting = p_prio IS NOT NULL AND
    EXISTS (SELECT 1 FROM queue WHERE status = 'waiting' AND id <> p_id);
  -- No table backend of this format: the default's own slots, without the
  -- scan and its weights (the legacy setup, and the hot path: the scan's
  -- UNION, per-backend counts and parsing cost more than the whole rest
  -- of an admission)
  IF (p_dflt & IF(p_format = 'anthropic', 2, 1)) <> 0 AND
     (p_exclude IS NULL OR LOCATE(',0,', p_exclude) = 0) AND
     NOT EXISTS (SELECT 1 FROM backends WHERE enabled = 1 AND format = p_format) AND
     NOT EXISTS (SELECT 1 FROM model_backends) THEN
    IF v_waiting = 1 AND relay_ahead(p_prefix, 0, p_dflt, p_prio, p_id) = 1 THEN
      SET o_why = IF(relay_bfree(p_prefix, 0, relay_bslots(0, p_slots), 1) > 0, 2, 1);
      LEAVE proc;
    END IF;
    SET o_first = 1;
    CALL relay_grab(p_prefix, 0, p_slots, p_first, o_slot);
    SET o_why = IF(o_slot IS NULL, 1, 0);
    LEAVE proc;
  END IF;
  SET v_done = 0;
  OPEN cur;
  scan: LOOP
    FETCH cur INTO v_b, v_w, v_p;
    IF v_done = 1 THEN
      LEAVE scan;
    END IF;
    IF p_exclude IS NOT NULL AND LOCATE(CONCAT(',', v_b, ','), p_exclude) > 0 THEN
      ITERATE scan;
    END IF;
    SET v_served = 1;
    IF v_waiting = 1 AND relay_ahead(p_prefix, v_b, p_dflt, p_prio, p_id) = 1 THEN
      IF relay_bfree(p_prefix, v_b, relay_bslots(v_b, p_slots), 1) > 0 THEN
        SET v_free = 1;
      END IF;
      ITERATE scan;
    END IF;
    SET o_first = 1;
    SET v_n = relay_bslots(v_b, p_slots);
    IF v_n > 0 AND relay_bfree(p_prefix, v_b, v_n, 1) > 0 THEN
      -- the scan runs by priority: the first free backend sets the group
      IF v_top IS NULL THEN
        SET v_top = v_p;
      END IF;
      IF v_p = v_top THEN
        SET v_list = CONCAT(v_list, v_b, ':', GREATEST(v_w, 1), ',');
        SET v_total = v_total + GREATEST(v_w, 1);
      ELSE
        SET v_rest = CONCAT(v_rest, v_b, ':0,');
      END IF;
    END IF;
  END LOOP;
  CLOSE cur;
  IF v_served = 1 AND v_total = 0 THEN
    SET o_why = IF(v_free = 1, 2, 1);
  ELSEIF v_served = 1 THEN
    -- one of the top group by weight; should its slots be taken
    -- meanwhile, the others in scan order (the lower priorities last)
    SET v_r = RAND() * v_total, v_item = v_list;
    WHILE v_item <> '' AND v_r >= 0 DO
      SET v_pos = LOCATE(',', v_item);
      SET v_b = CAST(SUBSTRING_INDEX(LEFT(v_item, v_pos - 1), ':', 1) AS UNSIGNED);
      SET v_w = CAST(SUBSTRING_INDEX(LEFT(v_item, v_pos - 1), ':', -1) AS UNSIGNED);
      SET v_item = SUBSTRING(v_item, v_pos + 1);
      SET v_r = v_r - v_w;
    END WHILE;
    CALL relay_grab(p_prefix, v_b, p_slots, p_first, o_slot);
    SET v_item = CONCAT(v_list, v_rest);
    WHILE v_item <> '' AND o_slot IS NULL DO
      SET v_pos = LOCATE(',', v_item);
      SET v_b = CAST(SUBSTRING_INDEX(LEFT(v_item, v_pos - 1), ':', 1) AS UNSIGNED);
      SET v_item = SUBSTRING(v_item, v_pos + 1);
      CALL relay_grab(p_prefix, v_b, p_slots, p_first, o_slot);
    END WHILE;
    SET o_why = IF(o_slot IS NULL, 1, 0);
  END IF;
END //

DELIMITER ;
