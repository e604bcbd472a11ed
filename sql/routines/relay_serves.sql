-- relay_serves.sql - function: does a backend serve a format and model.
-- Used by the routines relay_ahead, relay_head_for.
--
-- 1 when backend p_b (0 = the default, whose formats are p_dflt) is
-- enabled and serves p_format / p_model (health aside). The same rule is
-- inline in relay_take_slot's scan: a model with entries in model_backends
-- is served by those backends only (its model enabled).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_serves(p_b INT UNSIGNED, p_format VARCHAR(16),
    p_model VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, p_dflt INT)
    RETURNS TINYINT NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v_models TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL;
  DECLARE v_map TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL;
  DECLARE v_found TINYINT DEFAULT 1;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;
  IF EXISTS (SELECT 1 FROM models m JOIN model_backends mb ON mb.model_id = m.id
             WHERE m.name = p_model) THEN
    RETURN EXISTS (SELECT 1 FROM models m JOIN model_backends mb ON mb.model_id = m.id
                   JOIN backends b ON b.id = mb.backend_id
                   WHERE m.name = p_model AND m.enabled = 1 AND b.id = p_b
                   AND b.enabled = 1 AND b.format = p_format);
  END IF;
  IF p_b = 0 THEN
    RETURN (p_dflt & IF(p_format = 'anthropic', 2, 1)) <> 0;
  END IF;
  SELECT models, model_map INTO v_models, v_map FROM backends
    WHERE id = p_b AND enabled = 1 AND format = p_format;
  IF v_found = 0 THEN
    RETURN 0;
  END IF;
  RETURN v_models IS NULL OR TRIM(v_models) = '' OR
         IF(LOCATE('*', v_models) = 0, FIND_IN_SET(p_model, REPLACE(v_models, ' ', '')) > 0,
            relay_glob_any(v_models, p_model, 0) = 1) OR
         (v_map IS NOT NULL AND relay_glob_any(v_map, p_model, 1) = 1);
END //

DELIMITER ;
