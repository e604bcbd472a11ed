-- 027_provider_auth.sql - more ways to present a backend's credential
-- (issue 28): 'none' (a keyless local model: no credential header at all)
-- and 'azure' (Azure OpenAI: the key as api-key, deployment-style URLs
-- with an api-version query, which api_version holds; NULL = the binaries'
-- default) and 'aws' (AWS Bedrock: SigV4-signed requests; the sealed key
-- is "ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]", region its region).

ALTER TABLE backends MODIFY COLUMN auth ENUM('bearer','x-api-key','none','azure','aws')
  NOT NULL DEFAULT 'bearer';
ALTER TABLE backends ADD COLUMN IF NOT EXISTS api_version VARCHAR(32) NULL;
ALTER TABLE backends ADD COLUMN IF NOT EXISTS region VARCHAR(32) NULL;
