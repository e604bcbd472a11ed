-- 028_proxy_tokens.sql - proxy URLs (issue 28, the seed's translation
-- proxy): POST /api/generate-url gives a member a URL
-- /proxy/{token}/... that works as a base URL for clients that take only
-- a base URL (no key header). The token is a secret: only its SHA-256 is
-- stored. The row holds the member's relay key sealed (AES-256-GCM with
-- master_key_file), so a proxied request is admitted as that key: revoking
-- the key (or the row, revoked_at) kills the URL.

CREATE TABLE IF NOT EXISTS proxy_tokens (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  token_hash  BINARY(32) NOT NULL,
  user_id     INT UNSIGNED NOT NULL,
  key_sealed  VARBINARY(2200) NOT NULL,
  source      ENUM('openai','anthropic') NOT NULL,
  backend     VARCHAR(64) NULL,                -- bound backend, NULL = the pool
  model_force VARCHAR(255) NULL,               -- model.mode force
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  revoked_at  TIMESTAMP NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_proxy_tokens_hash (token_hash),
  KEY ix_proxy_tokens_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
