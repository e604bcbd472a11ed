-- relay_backend_ok.sql - procedure: clear a backend's failure state.
-- Called by src/admin/bkadmin.c (bk_test).
-- Called by the routines relay_finish, relay_finish_batch.
--
-- A success of backend p_b outside relay_finish (relayctl backend test,
-- the worker's probe): clears its failure state.

DELIMITER //

CREATE OR REPLACE PROCEDURE relay_backend_ok(IN p_b INT UNSIGNED)
  UPDATE backend_state SET fails = 0, cool_until = NULL, last_ok_at = NOW()
    WHERE backend_id = p_b AND (fails > 0 OR cool_until IS NOT NULL) //

DELIMITER ;
