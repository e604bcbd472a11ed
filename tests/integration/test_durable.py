"""Issue 16: fewer durable commits on the request path
(sql/schema/016_inflight.sql). A request
in flight is an entry in a MEMORY table; it becomes durable once, with its
request_log row (direct) or its queue row (queued). Here: the daily limit
under a race, one row per admitted request on every path, a relay killed
with -9 mid-request, a MariaDB restart mid-flight, and the number of
read-write commits per request (a count, not a timing)."""
import signal

from common import call, call_popen, hold_slot, jbody, parallel, req, usage, wait_until


def _slot_free(env):
    """An earlier test's slot holder (a client killed while its server-side
    SLEEP goes on) may still hold slot 1: wait for it."""
    wait_until(lambda: env.sql_value("SELECT IS_FREE_LOCK('%s:slot:1')" % env.lock_prefix) == "1",
               timeout=60, what="slot 1 to be free")


def _rows(env):
    return int(env.sql_value("SELECT COUNT(*) FROM request_log"))


def _inflight(env):
    return int(env.sql_value("SELECT COUNT(*) FROM inflight"))


def _rw_commits(env):
    return int(env.sql_value("SELECT COUNT FROM information_schema.INNODB_METRICS"
                             " WHERE NAME = 'trx_rw_commits'"))


def test_durable_limit_never_exceeded_under_race(env):
    _slot_free(env)
    key = env.add_user("alice", daily_requests=5, daily_tokens=0)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "32"
    out = parallel(16, lambda i: call(env, req(mock={"stall": 0.3}), key, timeout=60))
    codes = sorted(r.status for r in out)
    assert codes == [200] * 5 + [429] * 11, codes
    for r in out:
        if r.status == 429:
            d = r.json()["data"]
            assert d["request_limit"] == 5 and d["request_used"] == 5, d
    assert len(env.mock_requests()) == 5
    assert _rows(env) == 5
    assert usage(env, "alice") == (5, 5 * 33, 0)
    assert _inflight(env) == 0
    # what members see: durable and in flight alike
    r = env.relayctl("usage")
    assert r.returncode == 0 and "alice" in r.stdout


def test_durable_every_admitted_request_one_row(env):
    """Direct, inline waiter and polled (202): one row each, each request
    counted once, nothing left in flight."""
    _slot_free(env)
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    r = call(env, req(), key)
    assert r.status == 200, r.body[:300]
    env.mock_reset()
    t, box = hold_slot(env, key, 1)
    r = call(env, req(), key, headers={"X-Relay-Wait": "30"})
    assert r.status == 200, r.body[:300]
    t.join()
    env.mock_reset()
    t, box = hold_slot(env, key, 1)
    r = call(env, req(), key)
    assert r.status == 202, r.body[:300]
    t.join()
    assert env.queue_worker("--once").returncode == 0
    wait_until(lambda: _rows(env) == 5, what="five request_log rows")
    assert usage(env, "alice") == (5, 5 * 33, 0)
    ids = env.sql("SELECT admit_id, queue_id FROM request_log ORDER BY id")
    # direct, the two holders, the inline waiter by their admission; the
    # polled item's row by its queue item (its request counted at 202)
    assert len(set(i for i, _ in ids if i is not None)) == 4, ids
    assert [q is not None for i, q in ids if i is None] == [True], ids
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE admit_id IS NOT NULL") == "2"
    assert _inflight(env) == 0


def test_durable_kill9_mid_request_ends_as_one_row(env):
    """A relay process killed with -9 during the upstream exchange: its
    entry loses its lock; the next admission of the user (or a queue
    worker's pass) writes the request's one row, and the limit is not
    leaked: the request counts once, as an error."""
    _slot_free(env)
    key = env.add_user("alice", daily_requests=2, daily_tokens=0)
    p = call_popen(env, jbody(req(mock={"stall": 30})), key)
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the call to reach the upstream")
    assert usage(env, "alice")[0] == 1      # in flight, counted
    p.send_signal(signal.SIGKILL)
    p.wait()
    wait_until(lambda: env.sql_value(
        "SELECT COUNT(*) FROM inflight WHERE IS_USED_LOCK(lock_name) IS NULL") == "1",
        what="the dead process's connection to close")
    assert _rows(env) == 0
    env.mock_reset()
    r = call(env, req(), key)               # sweeps, then is the second of two
    assert r.status == 200, r.body[:300]
    assert env.sql("SELECT http_status, error FROM request_log ORDER BY id") == [
        ["500", "relay process ended before metering"], ["200", None]]
    assert usage(env, "alice") == (2, 33, 1)
    r = call(env, req(), key)
    assert r.status == 429, r.body[:300]
    assert _inflight(env) == 0


def test_durable_kill9_swept_by_worker(env):
    _slot_free(env)
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    p = call_popen(env, jbody(req(mock={"stall": 30})), key)
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the call to reach the upstream")
    p.send_signal(signal.SIGKILL)
    p.wait()
    wait_until(lambda: env.sql_value(
        "SELECT COUNT(*) FROM inflight WHERE IS_USED_LOCK(lock_name) IS NULL") == "1",
        what="the dead process's connection to close")
    assert env.queue_worker("--once").returncode == 0
    assert _rows(env) == 1 and _inflight(env) == 0
    assert usage(env, "alice") == (1, 0, 1)


def test_durable_swept_row_replaced_by_a_late_finish(env):
    """A relay that only lost its connection was taken for dead (its entry
    swept, a 500 row written): its finish replaces that row with the real
    outcome; one row, the request counted once, the tokens counted."""
    _slot_free(env)
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    p = call_popen(env, jbody(req(mock={"stall": 2})), key)
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the call to reach the upstream")
    # the entry's lock taken away: as if its connection had been lost
    lock = env.sql_value("SELECT lock_name FROM inflight")
    rid = env.sql_value("SELECT id FROM inflight")
    env.sql("DELETE FROM inflight WHERE id = %s;"
            "INSERT INTO request_log (user_id, key_id, admit_id, route, format, http_status,"
            " error, day) SELECT user_id, id, %s, 'call', '', 500, relay_swept_why(), CURDATE()"
            " FROM api_keys LIMIT 1" % (rid, rid))
    assert lock
    out = p.stdout.read()
    p.wait()
    assert b"chatcmpl-mock" in out, out[:300]
    wait_until(lambda: env.sql_value("SELECT http_status FROM request_log") == "200",
               what="the finish to replace the swept row")
    assert _rows(env) == 1
    assert usage(env, "alice") == (1, 33, 0)


def test_durable_restart_mid_flight(env):
    """MariaDB restarts while 3 requests are at the upstream (the in-flight
    table is emptied; their exchanges stop, as they cannot keep their
    slots): each still ends as one row, written once the database is back,
    and counts once, so the limit after the restart is exact."""
    _slot_free(env)
    key = env.add_user("alice", daily_requests=4, daily_tokens=0)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "8"
    procs = [call_popen(env, jbody(req(mock={"stall": 5})), key) for _ in range(3)]
    wait_until(lambda: len(env.mock_requests()) >= 3, what="three calls at the upstream")
    env.stop_db()
    env.start_db()
    for p in procs:
        out = p.stdout.read()
        p.wait()
        assert b"Status: 502" in out or b"chatcmpl-mock" in out, out[:300]
    wait_until(lambda: _rows(env) == 3, what="three rows")
    assert usage(env, "alice")[0] == 3
    assert _inflight(env) == 0
    env.mock_reset()
    r = call(env, req(), key)                # the fourth of four
    assert r.status == 200, r.body[:300]
    r = call(env, req(), key)
    assert r.status == 429, r.body[:300]
    assert _rows(env) == 4 and usage(env, "alice")[0] == 4
    assert env.sql_value("SELECT COUNT(DISTINCT admit_id) FROM request_log") == "4"


def test_durable_connection_lost_mid_flight_rebinds(env):
    """The relay's connection is killed during the exchange (the server
    stays up): it takes its slot again and puts its in-flight entry back on
    the new connection, so no sweep takes it for dead; one row, the real
    outcome."""
    _slot_free(env)
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    p = call_popen(env, jbody(req(mock={"stall": 3})), key)
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the call at the upstream")
    old = env.sql_value("SELECT conn_id FROM inflight")
    env.sql("KILL CONNECTION %s" % old)
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM inflight WHERE conn_id <> %s"
                                     " AND IS_USED_LOCK(lock_name) = conn_id" % old) == "1",
               what="the entry to be put back on the new connection")
    assert env.queue_worker("--once").returncode == 0      # sweeps nothing
    out = p.stdout.read()
    p.wait()
    assert b"chatcmpl-mock" in out, out[:300]
    wait_until(lambda: _rows(env) == 1, what="the row")
    assert env.sql("SELECT http_status, error FROM request_log") == [["200", None]]
    assert usage(env, "alice") == (1, 33, 0)
    assert _inflight(env) == 0


test_durable_restart_mid_flight.timeout = 180


def test_durable_commits_per_request(env):
    """Read-write commits (each one redo-log fsync on a durable server) per
    request: direct 1 (was 2), inline waiter 3 (enqueue, claim, finish;
    was 5)."""
    _slot_free(env)
    key = env.add_user("alice", daily_requests=10, daily_tokens=0)
    env.sql("SET GLOBAL innodb_monitor_enable = 'trx_rw_commits';"
            "SET GLOBAL innodb_stats_auto_recalc = 0")
    try:
        env.start_fcgi_app("call")
        call(env, req(), key, via="fcgi")     # warm: the process and its connection
        wait_until(lambda: _rows(env) == 1, what="the warm-up row")
        a = _rw_commits(env)
        for _ in range(5):
            r = call(env, req(), key, via="fcgi")
            assert r.status == 200, r.body[:300]
        wait_until(lambda: _rows(env) == 6, what="six rows")
        assert _rw_commits(env) - a == 5, _rw_commits(env) - a
        # an inline waiter, its holder (a direct call) subtracted
        env.mock_reset()
        t, box = hold_slot(env, key, 1)
        a = _rw_commits(env)
        r = call(env, req(), key, headers={"X-Relay-Wait": "30"})
        assert r.status == 200, r.body[:300]
        t.join()
        wait_until(lambda: _rows(env) == 8, what="eight rows")
        assert _rw_commits(env) - a == 1 + 3
    finally:
        env.sql("SET GLOBAL innodb_stats_auto_recalc = 1")
