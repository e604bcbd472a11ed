-- relay_verdict.sql - function.
-- Whether a queued request may still go upstream now: 0 yes, 1 its key is
-- revoked, expired or gone, 2 its user disabled or gone, 3 its user's
-- token limit is reached (on the day the item counts on, its queue day).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_verdict(p_id BIGINT UNSIGNED)
    RETURNS TINYINT NOT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v = 0;
  SELECT CASE
           WHEN u.id IS NULL OR u.enabled = 0 THEN 2
           WHEN k.id IS NULL OR k.revoked_at IS NOT NULL OR
                (k.expires_at IS NOT NULL AND k.expires_at < CURDATE()) THEN 1
           WHEN u.daily_tokens > 0 AND
                relay_tokens_used(u.id, DATE(q.added_at)) >= u.daily_tokens THEN 3
           ELSE 0 END
    INTO v
    FROM queue q LEFT JOIN users u ON u.id = q.user_id
         LEFT JOIN api_keys k ON k.id = q.key_id
   WHERE q.id = p_id;
  RETURN v;
END //

DELIMITER ;
