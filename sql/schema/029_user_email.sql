-- 029_user_email.sql - users get an optional e-mail address (issue 29):
-- the Go gateway's API signs in by e-mail. Unique and case-insensitive:
-- the binaries store it lower-cased and look it up lower-cased, and the
-- column's collation is case-insensitive as a second guard. NULL = none
-- (any number of users may have none).

ALTER TABLE users ADD COLUMN IF NOT EXISTS email VARCHAR(254)
  CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL AFTER name;
ALTER TABLE users ADD UNIQUE KEY IF NOT EXISTS uq_users_email (email);
