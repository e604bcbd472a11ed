-- 025_inflight_tokens.sql - a token limit sees the tokens of requests that
-- finished but are not yet written (issue 25, point 4).
--
-- Admission compared the token limit with daily_usage.tokens alone, which
-- a request reaches only when its row is written: by meterd's next batch
-- (tens of ms later) or by the process's metering thread, both after the
-- slot was let go and the client had its answer. So a client calling back
-- to back was admitted 8 to 11 times against a limit that two answers
-- reach. Now a finished request's tokens are on its in-flight entry (this
-- MEMORY column) from the statement that lets go of its slot
-- (relay_handover for meterd, relay_pend for the metering thread;
-- relay_finish writes the row itself before letting go), and admission
-- adds the tokens of the user's entries not yet durable (the view
-- inflight_open, relay_tokens_used) to daily_usage.tokens in one
-- statement, across processes and hosts. Users with a token limit leave
-- the fast path for relay_admit's, whose entries are rows here.

ALTER TABLE inflight ADD COLUMN IF NOT EXISTS tokens BIGINT UNSIGNED NOT NULL DEFAULT 0;
