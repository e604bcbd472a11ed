"""Issue 12: the relay's own database connection dies at each step (KILL
CONNECTION from here, or a read timeout after the server already ran the
statement). Nothing may be counted twice, no slot or item lock may be
silently lost (no more upstream calls than slots, no re-send of a live
item), nothing over the limits."""
import subprocess
import threading
import time

from common import call, call_popen, jbody, last_log, req, usage, wait_until


def _relay_conns(env):
    return [r[0] for r in env.sql(
        "SELECT id FROM information_schema.processlist WHERE user = 'relay'")]


def _kill_relay(env):
    ids = _relay_conns(env)
    assert ids, "no relay connection to kill"
    for i in ids:
        try:
            env.sql("KILL CONNECTION %s" % i)
        except Exception:  # noqa: BLE001 - it may have gone by itself
            pass
    return ids


def _lock_free(env, name):
    return env.sql_value("SELECT IS_FREE_LOCK('%s')" % name) == "1"


def _slot(env):
    return "%s:slot:1" % env.lock_prefix


def _quiet_server(env):
    """Waits until no statement of the relay runs on the server any more
    (a statement whose client timed out goes on there)."""
    wait_until(lambda: not env.sql("SELECT id FROM information_schema.processlist"
                                   " WHERE user = 'relay' AND command = 'Query'"),
               timeout=30, what="the relay's statements to end on the server")


def _holder(env, name, seconds):
    """A client of its own that holds the named lock for `seconds`."""
    p = subprocess.Popen(["mariadb", "--no-defaults", "-uroot", "--socket=" + env.db_sock,
                          "-e", "SELECT GET_LOCK('%s', 0), SLEEP(%d)" % (name, seconds)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: not _lock_free(env, name), what="the lock holder")
    return p


def _killed_mid_exchange(env, stream):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    mock = {"mode": "stream", "stall_after": 1, "stall_for": 3} if stream else {"stall": 3}
    a = call_popen(env, jbody(req(stream=stream, mock=mock)), key)
    wait_until(lambda: len(env.mock_requests()) >= 1, what="call A to reach the upstream")
    _kill_relay(env)
    # A notices and takes its slot back at once ...
    wait_until(lambda: not _lock_free(env, _slot(env)), what="call A to take its slot again")
    # ... so B, arriving while A still runs, waits instead of going upstream too
    b = call(env, req(), key)
    assert b.status == 202, (b.status, b.body[:300])
    out = a.stdout.read()
    a.wait(timeout=60)
    assert b"200" in out.split(b"\r\n", 1)[0], out[:300]
    if stream:
        assert b"[DONE]" in out, out[-300:]
    assert len(env.mock_requests()) == 1
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "1"
    log = last_log(env)
    assert log["http_status"] == "200" and log["total_tokens"] == "33", log
    assert usage(env, "alice") == (2, 33, 0)   # A metered once; B reserved, waiting
    assert _lock_free(env, _slot(env))


def test_dbkill_direct_call_mid_exchange(env):
    _killed_mid_exchange(env, stream=False)


def test_dbkill_stream_mid_exchange(env):
    _killed_mid_exchange(env, stream=True)


def test_dbkill_idle_connection_reconnects_safely(env):
    """An idle connection killed between requests (FastCGI keeps one per
    process): the next request reconnects before sending and is served."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    assert call(env, req(), key, via="fcgi").status == 200
    _kill_relay(env)
    r = call(env, req(), key, via="fcgi")
    assert r.status == 200, r.body[:300]
    assert usage(env, "alice") == (2, 66, 0)
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "2"


def _slow_trigger(env, table, event, seconds=2):
    name = "t_slow_%s_%s" % (table, event.lower())
    env.sql("CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW SET @slow = SLEEP(%d)"
            % (name, event, table, seconds))
    return name


def _drop(env, *names):
    for n in names:
        env.sql("DROP TRIGGER IF EXISTS %s" % n)


def test_dbkill_finish_lost_after_it_ran_is_not_repeated(env):
    """relay_finish runs on the server, the client's read times out (2013):
    repeating it would log and meter the request twice."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    t = _slow_trigger(env, "request_log", "INSERT")
    try:
        r = call(env, req(), key, env_over=env.relay_env(RELAY_DB_READ_TIMEOUT="1"))
        assert r.status == 200, r.body[:300]
        _quiet_server(env)
    finally:
        _drop(env, t)
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "1"
    assert usage(env, "alice") == (1, 33, 0)


def test_dbkill_admit_lost_after_it_ran_is_not_repeated(env):
    """relay_admit reserved the request, then the reply was lost: a repeat
    would reserve a second one (over the daily limit with limit 1). The
    reservation is the request's in-flight entry (relay_reserve); the next
    admission finds it without its process and writes its one row."""
    key = env.add_user("alice", daily_requests=1, daily_tokens=0)
    ts = [_slow_trigger(env, "inflight", "INSERT")]
    try:
        r = call(env, req(), key, env_over=env.relay_env(RELAY_DB_READ_TIMEOUT="1"))
        assert r.status == 500, r.body[:300]
        _quiet_server(env)
    finally:
        _drop(env, *ts)
    assert usage(env, "alice")[0] == 1
    assert env.mock_requests() == []
    r = call(env, req(), key)
    assert r.status == 429, r.body[:300]
    assert env.sql("SELECT http_status, error FROM request_log") == [
        ["500", "relay process ended before metering"]]
    assert usage(env, "alice") == (1, 0, 1)
    assert env.sql_value("SELECT COUNT(*) FROM inflight") == "0"


def test_dbkill_enqueue_lost_after_it_ran_is_not_repeated(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    holder = _holder(env, _slot(env), 30)
    t = _slow_trigger(env, "queue", "INSERT")
    try:
        r = call(env, req(), key, env_over=env.relay_env(RELAY_DB_READ_TIMEOUT="1"))
        assert r.status == 500, r.body[:300]
        _quiet_server(env)
    finally:
        _drop(env, t)
        holder.kill()
        holder.wait()
    assert env.sql_value("SELECT COUNT(*) FROM queue") == "1"
    # the reserved request has its row (the 500 the client got)
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE http_status = 500") == "1"
    # and counts once: with its queue row, not again with that log row
    assert usage(env, "alice")[0] == 1, (usage(env, "alice"), env.sql(
        "SELECT admit_id, queue_id, http_status FROM request_log"), env.sql(
        "SELECT id, admit_id FROM queue"), env.sql("SELECT id FROM inflight"))
    assert env.sql_value("SELECT COUNT(*) FROM inflight") == "0"


def test_dbkill_worker_mid_item_no_resend(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    holder = _holder(env, _slot(env), 30)
    r = call(env, req(mock={"stall": 3}), key)
    assert r.status == 202, r.body[:300]
    q = r.json()["queue_id"]
    holder.kill()
    holder.wait()
    wait_until(lambda: _lock_free(env, _slot(env)), what="the holder's slot to be freed")
    w = env.start_queue_worker("--once")
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the worker to reach the upstream")
    item = "%s:item:%d" % (env.lock_prefix, q)
    _kill_relay(env)
    wait_until(lambda: not _lock_free(env, item), what="the worker to take its item lock again")
    # a second worker's recovery sees a live item, not an orphan
    w2 = env.queue_worker("--once")
    assert w2.returncode == 0, w2.stderr
    w.wait(timeout=60)
    assert len(env.mock_requests()) == 1, "the live item was sent again"
    assert env.sql_value("SELECT status FROM queue WHERE id=%d" % q) == "completed"
    assert env.sql_value("SELECT attempts FROM queue WHERE id=%d" % q) == "1"
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "1"
    assert usage(env, "alice") == (1, 33, 0)
    assert _lock_free(env, item) and _lock_free(env, _slot(env))


def test_queued_long_model_clipped_on_a_character(env):
    """A 300-byte model of 3-byte characters, queued: clipped on a character
    boundary (strict mode refused half a character with a 500)."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    holder = _holder(env, _slot(env), 30)
    try:
        r = call(env, req(model="a" + "模" * 100), key)
    finally:
        holder.kill()
        holder.wait()
        # the next test must find the slot free, not still held by the
        # dying holder's connection
        wait_until(lambda: _lock_free(env, _slot(env)), what="the holder's slot to be freed")
    assert r.status == 202, r.body[:300]
    assert env.sql_value("SELECT model FROM queue") == "a" + "模" * 84


def test_sigterm_mid_stream_finishes_the_request(env):
    """mod_fcgid/lighttpd send SIGTERM to stop a process: the stream being
    served ends normally (web.h), then the process exits."""
    import os
    import signal
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    env.start_fcgi_app("call")
    proc = env._fcgi["call"]["proc"]
    box = {}

    def run():
        box["r"] = call(env, req(stream=True, mock={"mode": "stream", "n": 6, "delay": 0.3}),
                        key, via="fcgi", stream=True)
    th = threading.Thread(target=run)
    th.start()
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the stream to start")
    time.sleep(0.5)       # a few events are out: the signal lands mid-stream
    os.kill(proc.pid, signal.SIGTERM)
    th.join(60)
    r = box["r"]
    assert r.status == 200, r.body[:300]
    assert b"[DONE]" in r.body and b"upstream_error" not in r.body, r.body[-300:]
    proc.wait(timeout=30)
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log") == "1",
               what="the request to be metered")
    assert last_log(env)["total_tokens"] == "33"
    env.stop_fcgi_app("call")
