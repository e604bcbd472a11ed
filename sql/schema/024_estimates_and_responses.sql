-- 024_estimates_and_responses.sql - issue 25 points 8 and 13.
--
-- request_log.usage_known (TINYINT(1), so it holds 2 without a change):
--   0 = the upstream reported no usage (tokens logged as 0),
--   1 = the upstream's usage,
--   2 = the relay's estimate (src/relay/relay.c relay_estimate): the
--       client went away before the usage at the end was read, or a
--       non-stream answer too large to hold had none in its tail. Prompt
--       tokens from the local estimator (src/proto/tokest.c), completion
--       tokens from the text received; a member never gets tokens for
--       free by leaving early.
-- /metrics counts the estimated requests and their tokens apart
-- (llm_relay_requests_estimated_total, llm_relay_estimated_tokens_total);
-- rows folded before this migration count as not estimated.
ALTER TABLE metrics_totals
  ADD COLUMN IF NOT EXISTS estimated BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- usage_known = 2
  ADD COLUMN IF NOT EXISTS estimated_tokens BIGINT UNSIGNED NOT NULL DEFAULT 0;

-- Responses API ids (POST /v1/responses) bound to the member who created
-- them, as every member shares the upstream's account: a
-- previous_response_id of another member's response is answered 404
-- like one that does not exist (src/doors/h_v1.c). Kept like the log.
CREATE TABLE IF NOT EXISTS response_owner (
  response_id  VARCHAR(191) CHARACTER SET ascii NOT NULL,
  user_id      INT UNSIGNED NOT NULL,
  created_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (response_id),
  KEY ix_response_owner_created (created_at)
) ENGINE=InnoDB;
