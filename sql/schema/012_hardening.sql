-- 012_hardening.sql - one day per request (issue 12).
-- A request's tokens and errors used to go to the day it finished
-- (DATE(created_at)) while its request was reserved on the day it was
-- admitted: a stream running over midnight split across two days. Now
-- everything of a request counts on the day it was admitted:
-- request_log.day is that day, and the usage trigger uses it.

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS day DATE NULL AFTER created_at;

-- The routines this migration defined (request_log_usage, relay_cancel,
-- relay_finish) are no longer here: each is one file in sql/routines/, in
-- its newest form, applied by `relayctl migrate` after the schema
-- (docs/design/sql-routines.md).
