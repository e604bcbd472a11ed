-- inflight_open.sql - view inflight_open (last defined by migration 019).
-- Used by the binaries: src/ctl/ctl.c (ctl_usage_report); the routines
--   relay_inflight, relay_reserve.

CREATE OR REPLACE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW inflight_open AS
  SELECT i.id, i.user_id, i.key_id, i.day, i.conn_id, i.lock_name
    FROM inflight i
   WHERE NOT EXISTS (SELECT 1 FROM request_log r WHERE r.admit_id = i.id)
     AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.admit_id = i.id);
