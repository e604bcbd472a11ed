-- relay_swept_why.sql - function: the error text of a swept request's row.
-- Called by src/ops/meterd.c (md_swept).
-- Used by the routines relay_settle, relay_sweep_one.
--
-- The error of a row written for a request whose relay process ended
-- before it metered (a finish that comes after all replaces such a row).

DELIMITER //

CREATE OR REPLACE FUNCTION relay_swept_why() RETURNS VARCHAR(64) DETERMINISTIC NO SQL
  RETURN 'relay process ended before metering' //

DELIMITER ;
