-- 005_queue_busy_retry.sql - a queued item survives an upstream that is busy.
-- When the upstream answers 429 or 503 to a queued item, the worker puts it
-- back to `waiting` until not_before (the upstream's Retry-After, else an
-- exponential backoff) instead of storing the refusal as its result; after
-- QUEUE_BUSY_RETRIES such answers the last one is stored. `retries` counts
-- them apart from `attempts` (claims), so the dead-worker budget of
-- QUEUE_MAX_ATTEMPTS stays what it was.

ALTER TABLE queue
  ADD COLUMN IF NOT EXISTS retries INT UNSIGNED NOT NULL DEFAULT 0 AFTER attempts,
  ADD COLUMN IF NOT EXISTS not_before TIMESTAMP NULL AFTER retries;
