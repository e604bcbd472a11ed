-- 010_dispatch.sql - the queue becomes the dispatcher (issue 10).
--
-- Every upstream slot is busy whenever work waits, in one order for
-- everybody: priority DESC, then arrival (id), across polled items (202,
-- run by queue workers) and inline waiters (clients waiting on their own
-- connection).
--
-- How a waiter waits without polling: MariaDB cannot block on "any of N
-- locks", so a waiter sleeps in relay_wait (DO SLEEP inside the procedure)
-- and whoever frees a slot wakes the first in line with KILL QUERY ID,
-- aimed at exactly that sleeping statement (a query id is unique for the
-- server's lifetime, so a late KILL can never hit a later statement). The
-- check "am I first and is a slot free" and the sleep are one CALL, and a
-- waker releases its slot before it looks for a sleeper, so a wake is never
-- lost: a waiter that started its CALL after the release sees the free slot,
-- one that started before is visible as sleeping. KILL QUERY of one's own
-- threads needs no privilege: every relay process must use the same
-- MariaDB user.
--
-- Liveness: an inline waiter holds the named lock in queue.worker (a random
-- '<prefix>:wait:<hex>') for as long as it waits or forwards; a row whose
-- lock is free has lost its client process and is closed with its one
-- request_log row by whoever sees it first.

ALTER TABLE queue
  ADD COLUMN IF NOT EXISTS wait_conn BIGINT UNSIGNED NULL AFTER worker;

-- Per-user caps (issue 12): 0 = unlimited.
--   max_concurrent: requests of the user in flight at once (forwarding or
--                   waiting inline), held as named locks '<prefix>:user:<id>:<k>'
--   max_queued:     waiting items of the user (polled and inline)
ALTER TABLE users
  ADD COLUMN IF NOT EXISTS max_concurrent INT UNSIGNED NOT NULL DEFAULT 0 AFTER models,
  ADD COLUMN IF NOT EXISTS max_queued INT UNSIGNED NOT NULL DEFAULT 0 AFTER max_concurrent;

-- Queue workers waiting for polled work, so a waker can find one. A row of
-- a dead worker is harmless (its connection id is not in the process list)
-- and is removed when a worker starts.
CREATE TABLE IF NOT EXISTS queue_workers (
  conn_id     BIGINT UNSIGNED NOT NULL,
  host        VARCHAR(255) NOT NULL DEFAULT '',
  pid         INT UNSIGNED NOT NULL DEFAULT 0,
  started_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (conn_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The routines this migration defined (relay_close_dead, relay_head,
-- relay_wake, relay_wait, relay_release, relay_release_user, relay_enqueue,
-- relay_admit, relay_finish) are no longer here: each is one file in
-- sql/routines/, in its newest form, applied by `relayctl migrate` after
-- the schema (docs/design/sql-routines.md). relay_free_slot, unused since
-- 013, is gone (migrate drops it).
