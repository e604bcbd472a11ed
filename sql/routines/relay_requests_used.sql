-- relay_requests_used.sql - function: a user's requests of a day, durable
-- and in flight.
-- Called by src/console/cdata.c (cdata_usage), src/console/cdata.c
-- (cdata_users).
--
-- Today's requests of a user as members and limits see them: durable ones
-- plus those in flight (relay_inflight), in one statement.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_requests_used(p_user INT UNSIGNED, p_day DATE)
    RETURNS BIGINT UNSIGNED NOT DETERMINISTIC READS SQL DATA
  RETURN COALESCE((SELECT requests FROM daily_usage WHERE user_id = p_user AND day = p_day), 0)
         + relay_inflight(p_user, p_day) //

DELIMITER ;
