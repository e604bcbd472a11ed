-- relay_deny_why.sql - function.
-- The error of a refused turn (relay_verdict's number): the seed's words
-- for the token limit (call.php's 429), 'cancelled: ...' otherwise.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_deny_why(p_verdict TINYINT)
    RETURNS VARCHAR(64) DETERMINISTIC NO SQL
  RETURN CASE p_verdict WHEN 3 THEN '今日Token用量已达上限'
                        WHEN 2 THEN 'cancelled: user disabled'
                        ELSE 'cancelled: API key revoked' END //

DELIMITER ;
