-- inflight_open.sql - view: the in-flight entries not yet durable.
-- Called by src/ctl/ctl.c (ctl_usage_report).
-- Used by the routines relay_inflight, relay_reserve.
--
-- One definition of "in flight, not yet durable": an in-flight entry
-- stands for a request counted nowhere else until the commit that makes it
-- durable (its log row, or its queue row). relay_inflight, relay_reserve's
-- limit check and relayctl usage read it. ALGORITHM=MERGE: merged into the
-- statement that reads it, so the MEMORY table is locked with the rest of
-- that one statement (the exactness argument of relay_inflight holds).

CREATE OR REPLACE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW inflight_open AS
  SELECT i.id, i.user_id, i.key_id, i.day, i.conn_id, i.lock_name, i.tokens
    FROM inflight i
   WHERE NOT EXISTS (SELECT 1 FROM request_log r WHERE r.admit_id = i.id)
     AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.admit_id = i.id);
