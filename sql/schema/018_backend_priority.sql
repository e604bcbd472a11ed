-- 018_backend_priority.sql - backends in priority tiers, and model matching
-- that agrees with the binaries and is cheap with many backends (issue 13).
--
-- A weight shares traffic among equals; a team with a main account and a
-- fallback one ("the DeepSeek key as a fallback") wants an order instead:
-- the fallback takes only what the main one cannot (its slots are all
-- taken, it cools down, or the try failed over). backends.priority, higher
-- first, default 0 (the implicit default backend is 0 too): the dispatcher
-- picks by weight among the free backends of the highest priority, a queue
-- worker scans by priority, failover (which excludes what it tried) falls
-- to the next tier by itself.

ALTER TABLE backends ADD COLUMN IF NOT EXISTS
  priority INT UNSIGNED NOT NULL DEFAULT 0 AFTER weight;

-- And model matching, made to agree with the binaries (bmatch.c) and to
-- cost less with many backends: 013 compared in the database's default
-- collation (utf8mb4_unicode_ci: "GPT-4o" matched "gpt-4o" here but not in
-- the model mapping, which is byte-exact), and called a stored function
-- per backend per pattern list: with 50 backends configured for other
-- models that was 100 calls of ~10 us on every admission. Now matching is
-- byte-exact (model ids are case-sensitive upstream), and a list without
-- '*' is looked up with FIND_IN_SET inline; the function runs only for
-- lists with globs and for mappings.

-- The routines this migration defined (relay_glob_any, relay_serves,
-- relay_take_slot, relay_take_polled) are no longer here: each is one file
-- in sql/routines/, in its newest form, applied by `relayctl migrate` after
-- the schema (docs/design/sql-routines.md).
