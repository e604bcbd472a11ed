-- 027_backend_region.sql - a backend's region (issue 29, the Go gateway's
-- Backend.region): a free label an operator sets ("cn-east", "us"), shown
-- by the admin API and relayctl; "" = none. Routing does not read it yet.

ALTER TABLE backends ADD COLUMN IF NOT EXISTS region VARCHAR(64) NOT NULL DEFAULT '';
