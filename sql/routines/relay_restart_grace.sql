-- relay_restart_grace.sql - function: seconds admissions wait after a
-- MariaDB start.
-- Used by the routines relay_reserve.
--
-- Seconds after a MariaDB start during which admissions of users with a
-- request limit wait: relay processes holding a slot put their in-flight
-- entries back meanwhile (they check their connection every 200 ms).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_restart_grace() RETURNS INT DETERMINISTIC NO SQL
  RETURN 2 //

DELIMITER ;
