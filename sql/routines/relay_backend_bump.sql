-- relay_backend_bump.sql - procedure: tell every process the backends changed.
-- Called by src/admin/bkadmin.c (bk_bump) and src/relay/backend.c
-- (backend_rs_learn: an auto backend found to be chat-only).
--
-- A change of any backend (relayctl, the console): processes reload. The
-- number is the time in microseconds (at least +1), so it never comes
-- back to a value a process has seen even if the row was deleted.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_backend_bump()
  INSERT INTO backend_gen (id, gen)
    VALUES (1, CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED))
    ON DUPLICATE KEY UPDATE gen = GREATEST(gen + 1, VALUES(gen)) //

DELIMITER ;
