-- 004_queue_order_index.sql - the claim order as an index.
-- Workers claim with ORDER BY priority DESC, id ASC ... FOR UPDATE SKIP
-- LOCKED. With (status, priority, id) that order needed a filesort, which
-- reads (and locks) every waiting row; with priority descending in the index
-- the scan stops at the first row no other worker holds.

ALTER TABLE queue DROP INDEX IF EXISTS ix_queue_next,
  ADD INDEX ix_queue_next (status, priority DESC, id);
