-- 014_translate.sql - Anthropic <-> OpenAI translation (issue 14).
-- request_log.translated says whether the request went upstream in the
-- other API format (the client's format stays in request_log.format):
-- 1 when the relay translated the request and its answer, 0 for the
-- byte-for-byte pass-through. relay_finish reads it from its p_backend
-- JSON ("translated": 1); the procedure is 016's (one durable commit).

ALTER TABLE request_log
  ADD COLUMN IF NOT EXISTS translated TINYINT NOT NULL DEFAULT 0 AFTER route;
