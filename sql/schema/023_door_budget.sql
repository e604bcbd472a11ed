-- 023_door_budget.sql - the per-user budget of forwarded count_tokens (issue 25
-- point 10, src/relay/door.c door_budget).
--
-- /v1/messages/count_tokens is free for members (no daily request, no
-- slot), so without a bound one member's loop spends the shared upstream
-- account's rate limit. With count_tokens_forward = N, at most N of one
-- user's count_tokens per second go upstream; the rest are answered by the
-- local estimator. One row per user: the second it counts (the database's
-- UNIX_TIMESTAMP, the same clock for every web host) and how many were let
-- through in it. MEMORY: a restart forgets a second's count, which is
-- harmless; the row is 16 bytes per user who ever forwarded one.
CREATE TABLE IF NOT EXISTS door_budget (
  user_id INT UNSIGNED NOT NULL PRIMARY KEY,
  sec     BIGINT UNSIGNED NOT NULL,
  n       INT UNSIGNED NOT NULL
) ENGINE=MEMORY;
