-- 022_daily_usage_by_day.sql - daily_usage clustered by day (issue 16:
-- a log that grows for years).
--
-- What reads many rows of daily_usage reads one day's: status.php and
-- /metrics sum today's rows, `relayctl usage` and the console's team page
-- list every user's row of the day. With the primary key (user_id, day)
-- each user's rows sat together, so today's 1,000 rows were 1,000 leaf
-- pages among two years' of them: measured with 731,731 rows (1,001 users
-- x 731 days), the usage query went from 3.7-4.6 ms to 4.1-6.2 ms. Keyed
-- (day, user_id), a day's rows are one range, and that query is back at
-- 4.2-5.0 ms. A single row (a limit check, a meterd batch's upsert) is
-- the same point lookup either way; new rows are appended at the end of
-- the index instead of into each user's part of it. One user's history
-- (the console's charts) reads ix_daily_usage_user, which the foreign key
-- to users needs too; ix_daily_usage_day is the primary key's prefix now.
ALTER TABLE daily_usage
  ADD KEY ix_daily_usage_user (user_id, day),
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (day, user_id),
  DROP KEY ix_daily_usage_day;
