"""log_retention_days (issue 16): old request_log rows go in small batches,
optionally to request_log_archive, from the queue worker and `relayctl log
purge`, while requests keep flowing."""
import re
import threading

from common import call, req, usage

COLS = ("id, user_id, key_id, queue_id, route, format, model, stream, http_status,"
        " prompt_tokens, completion_tokens, total_tokens, usage_known, latency_ms, error,"
        " created_at, day")


def old_rows(env, n, days_ago, user="alice"):
    """n request_log rows created `days_ago` days ago (the usage trigger
    counts them on their own day, as real traffic would)."""
    uid = env.sql_value("SELECT id FROM users WHERE name = '%s'" % user)
    env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, http_status,"
            " total_tokens, latency_ms, created_at, day)"
            " SELECT %s, 0, 'chat', 'openai', 'gpt-test', 200, 7, MOD(seq, 100),"
            " NOW() - INTERVAL %d DAY - INTERVAL seq SECOND,"
            " DATE(NOW() - INTERVAL %d DAY - INTERVAL seq SECOND)"
            " FROM seq_1_to_%d" % (uid, days_ago, days_ago, n))


def count(env, where="1"):
    return int(env.sql_value("SELECT COUNT(*) FROM request_log WHERE %s" % where))


def test_purge_deletes_only_old_rows_in_batches(env):
    key = env.add_user("alice")
    old_rows(env, 2500, 40)
    old_rows(env, 300, 5)
    # an old id with a recent time must stay (and must not stop the walk)
    lowest = env.sql_value("SELECT MIN(id) FROM request_log")
    env.sql("UPDATE request_log SET created_at = NOW() WHERE id = %s" % lowest)
    assert call(env, req(), key).status == 200
    usage_before = env.sql("SELECT user_id, day, requests, tokens, errors FROM daily_usage"
                           " ORDER BY user_id, day")
    dry = env.relayctl("log", "purge", "--days", "30", "--dry-run")
    assert dry.returncode == 0 and "would purge 2499 " in dry.stdout, dry.stdout + dry.stderr
    assert count(env) == 2801
    r = env.relayctl("log", "purge", "--days", "30", "--batch", "1000", "--pause-ms", "0")
    assert r.returncode == 0, r.stderr
    m = re.search(r"deleted (\d+) request_log row\(s\) older than 30 day\(s\) in (\d+) batch", r.stdout)
    # batches of at most 1000 ids (INSERT ... SELECT may leave id gaps: 3 or 4)
    assert m and int(m.group(1)) == 2499 and 3 <= int(m.group(2)) <= 4, r.stdout
    assert count(env) == 302
    assert count(env, "created_at < NOW() - INTERVAL 30 DAY") == 0
    assert count(env, "id = %s" % lowest) == 1
    # the daily counters (limits, status.php, relayctl usage) are untouched
    assert env.sql("SELECT user_id, day, requests, tokens, errors FROM daily_usage"
                   " ORDER BY user_id, day") == usage_before
    assert usage(env, "alice")[0] == 1
    # nothing left: a second run deletes nothing
    r = env.relayctl("log", "purge", "--days", "30")
    assert r.returncode == 0 and "deleted 0 " in r.stdout, r.stdout


def test_purge_archives_rows_unchanged(env):
    env.add_user("alice")
    old_rows(env, 1200, 400)
    old_rows(env, 10, 1)
    before = env.sql("SELECT %s FROM request_log WHERE created_at < NOW() - INTERVAL 365 DAY"
                     " ORDER BY id" % COLS)
    assert len(before) == 1200
    r = env.relayctl("log", "purge", "--days", "365", "--archive", "--batch", "500")
    assert r.returncode == 0 and "archived and deleted 1200 " in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT %s FROM request_log_archive ORDER BY id" % COLS) == before
    assert count(env) == 10


def test_worker_purges_by_config_in_small_rounds(env):
    env.add_user("alice")
    old_rows(env, 3000, 100)
    old_rows(env, 20, 2)
    # log_retention_days = 0 (the default) keeps everything
    env.queue_worker("--once")
    assert count(env) == 3020
    e = env.relay_env(RELAY_LOG_RETENTION_DAYS="90", RELAY_LOG_ARCHIVE="1")
    r = env.queue_worker("--once", env=e)
    assert r.returncode == 0, r.stderr
    assert count(env) == 20
    assert int(env.sql_value("SELECT COUNT(*) FROM request_log_archive")) == 3000
    assert "log retention: archived 3000 request_log row(s) older than 90 day(s)" in r.stderr, r.stderr


def test_requests_flow_while_purging(env):
    key = env.add_user("alice")
    old_rows(env, 20000, 60)
    res = {}

    def purge():
        res["r"] = env.relayctl("log", "purge", "--days", "30", "--batch", "500",
                                "--pause-ms", "5", timeout=300)
    t = threading.Thread(target=purge)
    t.start()
    statuses = []
    while (t.is_alive() or len(statuses) < 5) and len(statuses) < 200:
        statuses.append(call(env, req(), key).status)
    t.join()
    assert res["r"].returncode == 0, res["r"].stderr
    assert "deleted 20000 " in res["r"].stdout, res["r"].stdout
    assert statuses and set(statuses) == {200}, statuses
    # every request got its one row, none was purged
    assert count(env) == len(statuses)
    assert usage(env, "alice")[0] == len(statuses)


def test_purge_usage_errors(env):
    r = env.relayctl("log", "purge")
    assert r.returncode == 2 and "--days" in r.stderr, r.stderr
    for bad in (["--days", "0"], ["--days", "x"], ["--batch", "0", "--days", "3"], ["--bogus"]):
        r = env.relayctl("log", "purge", *bad)
        assert r.returncode == 2, (bad, r.stderr)
    assert env.relayctl("log").returncode == 2
    r = env.relayctl("log", "purge", env=env.relay_env(RELAY_LOG_RETENTION_DAYS="-1"))
    assert r.returncode == 2 and "log_retention_days" in r.stderr, r.stderr
