-- relay_inflight.sql - function: requests in flight not yet durable, for a
-- day.
-- Called by src/ops/status.c (status_build).
-- Used by the routines relay_requests_used.
--
-- Requests of the user (0: of everyone) in flight on `p_day` that are not
-- yet durable: what is added to daily_usage.requests for the limit and for
-- everything that shows it. Exact when read in the same statement as
-- daily_usage: MEMORY tables are locked for the whole statement before
-- InnoDB takes its snapshot, and an entry is removed only after the commit
-- that counted its request, so an entry that is gone was committed before
-- the snapshot, and one that is there is counted either in daily_usage
-- (committed: it has its row, so the view leaves it out) or here (not
-- committed), never both, never neither.

DELIMITER //

CREATE OR REPLACE FUNCTION relay_inflight(p_user INT UNSIGNED, p_day DATE)
    RETURNS BIGINT UNSIGNED NOT DETERMINISTIC READS SQL DATA
  RETURN (SELECT COUNT(*) FROM inflight_open i
            WHERE (p_user = 0 OR i.user_id = p_user) AND i.day = p_day) //

DELIMITER ;
