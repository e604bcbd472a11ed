-- relay_tokens_used.sql - function.
-- Today's tokens of a user for the limit: written (daily_usage) plus
-- finished and not yet written (the entries' tokens), one statement.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_tokens_used(p_user INT UNSIGNED, p_day DATE)
    RETURNS BIGINT UNSIGNED NOT DETERMINISTIC READS SQL DATA
  RETURN (SELECT COALESCE((SELECT tokens FROM daily_usage
                            WHERE user_id = p_user AND day = p_day), 0)
                 + (SELECT COALESCE(SUM(i.tokens), 0) FROM inflight_open i
                     WHERE i.user_id = p_user AND i.day = p_day)) //

DELIMITER ;
