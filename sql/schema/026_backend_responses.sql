-- 026_backend_responses.sql - whether an OpenAI-format backend serves
-- POST /responses itself (issue 26). 'yes': /v1/responses passes through
-- byte for byte; 'no' (a chat-only provider: MiniMax, Kimi, Zhipu, most
-- OpenAI-compatible ones): the relay translates it to /chat/completions;
-- 'auto': unknown, passed through. Presets set it (relayctl backend add
-- --preset), the operator overrides it with --responses.
ALTER TABLE backends
  ADD COLUMN IF NOT EXISTS responses ENUM('auto','yes','no') NOT NULL DEFAULT 'auto' AFTER mode;
