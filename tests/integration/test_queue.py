"""The queue (issue 4): slots, 202, positions, priorities, queue_status,
the worker, crash recovery."""
import json
import os
import signal
import subprocess
import threading
import time

from common import (ANTHROPIC_REQ, assert_error, call, hold_slot, jbody, last_log, parallel, queue_status,
                    req, sse_events, usage, wait_until)


def _enqueue(env, key, body=None):
    r = call(env, body or req(), key)
    assert r.status == 202, (r.status, r.body)
    j = r.json()
    assert j == {"success": True, "queued": True, "queue_id": j["queue_id"],
                 "message": "请求已进入队列,请通过 /api/queue_status.php 查询处理状态"}, j
    return j["queue_id"]


def test_busy_slot_queues_with_positions_and_priorities(env):
    low = env.add_user("low", priority=0)
    high = env.add_user("high", priority=10)
    t, box = hold_slot(env, low, 3)
    a = _enqueue(env, low)
    b = _enqueue(env, low)
    c = _enqueue(env, high)          # later, but higher priority
    assert a < b < c
    pos = {q: queue_status(env, q, k).json() for q, k in ((a, low), (b, low), (c, high))}
    assert pos[c]["position"] == 1 and pos[a]["position"] == 2 and pos[b]["position"] == 3, pos
    for j in pos.values():
        assert j["status"] == "waiting" and j["total_waiting"] == 3 and j["added_at"]
    t.join()
    assert box["resp"].status == 200
    r = env.queue_worker("--once")
    assert r.returncode == 0, r.stderr
    # served in priority order, FIFO within a priority
    models_order = [json.loads(x["body"])["model"] for x in env.mock_requests()[1:]]
    assert len(models_order) == 3
    ids = [int(x) for (x,) in env.sql("SELECT id FROM queue ORDER BY completed_at, id")]
    logs = [int(x) for (x,) in env.sql("SELECT queue_id FROM request_log WHERE queue_id IS NOT NULL ORDER BY id")]
    assert logs == [c, a, b], logs
    for q, k in ((a, low), (b, low), (c, high)):
        j = queue_status(env, q, k).json()
        assert j["status"] == "completed" and j["http_status"] == 200, j
        assert j["response"]["usage"]["total_tokens"] == 33
        assert j["completed_at"] >= j["added_at"]
    # counted once each: 1 direct + 2 queued for low, 1 for high
    assert usage(env, "low") == (3, 99, 0) and usage(env, "high") == (1, 33, 0)


def test_equal_priority_never_overtakes_waiting_work(env):
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 2)
    q1 = _enqueue(env, k)
    t.join()
    # the slot is free now, but an equal-priority item waits: queue behind it
    q2 = _enqueue(env, k)
    assert q2 > q1
    # a strictly higher priority may go straight through
    vip = env.add_user("vip", priority=5)
    assert call(env, req(), vip).status == 200


def test_queue_full_and_no_overshoot(env):
    k = env.add_user("u", daily_requests=0)
    # one user fills the queue here: above the default per-user cap
    assert env.relayctl("user", "set", "u", "--max-queued", "5").returncode == 0
    e = env.relay_env(RELAY_QUEUE_MAX="5")
    # the slot must stay busy while all 12 callers arrive (slow under valgrind)
    t, _ = hold_slot(env, k, 20 if env.valgrind else 4)
    res = parallel(12, lambda i: call(env, req(), k, env_over=e))
    codes = sorted(r.status for r in res)
    assert codes.count(202) == 5 and codes.count(503) == 7, codes
    for r in res:
        if r.status == 503:
            assert_error(r, 503, "队列已满")
    assert env.sql_value("SELECT COUNT(*) FROM queue") == "5"
    t.join()


def test_default_user_queue_cap(env):
    """Issue 25.9: max_queued 0 is the default cap, a quarter of queue_max
    (25 of 100), not unlimited. Before: bob queued 100 call.php items and
    alice got 503 queue full; after: bob gets 25 x 202 then 429 with the
    seed's message, alice still queues; an explicit per-user value holds."""
    holder = env.add_user("holder")
    bob = env.add_user("bob")
    alice = env.add_user("alice")
    carol = env.add_user("carol", max_queued=30)
    env.start_lighttpd()
    box = {}

    def hold():
        box["r"] = call(env, req(mock={"hold": "slot"}), holder, via=env.lighttpd_url,
                        timeout=100)
    t = threading.Thread(target=hold)
    t.start()
    try:
        wait_until(lambda: len(env.mock_requests()) >= 1, what="the holder at the upstream")
        got = [call(env, req(), bob, via=env.lighttpd_url) for _ in range(100)]
        codes = [r.status for r in got]
        assert codes == [202] * 25 + [429] * 75, codes
        assert_error(got[-1], 429, "您的排队请求数已达上限")
        assert call(env, req(), alice, via=env.lighttpd_url).status == 202
        codes = [call(env, req(), carol, via=env.lighttpd_url).status for _ in range(31)]
        assert codes == [202] * 30 + [429], codes
        assert env.sql("SELECT u.name, COUNT(*) FROM queue q JOIN users u ON u.id = q.user_id"
                       " WHERE q.status = 'waiting' GROUP BY u.name ORDER BY u.name") == \
            [["alice", "1"], ["bob", "25"], ["carol", "30"]]
    finally:
        env.http(env.mock_url + "/__release", method="POST", body=b"slot", timeout=10)
        t.join(100)
    assert box["r"].status == 200


def test_stream_item_and_failures(env):
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 2)
    qs = _enqueue(env, k, req(stream=True, mock={"mode": "stream", "n": 2}))
    qa = _enqueue(env, k, dict(ANTHROPIC_REQ, stream=True, mock={"mode": "stream"}))
    q5 = _enqueue(env, k, req(mock={"status": 500, "body": '{"error":"boom"}'}))
    qt = _enqueue(env, k, req(mock={"stall": 6}))
    t.join()
    r = env.queue_worker("--once", env=env.relay_env(RELAY_REQUEST_TIMEOUT="2"))
    assert r.returncode == 0, r.stderr
    j = queue_status(env, qs, k).json()
    assert j["status"] == "completed" and j["response_format"] == "sse", j
    assert sse_events(j["response"])[-1] == "data: [DONE]"
    j = queue_status(env, qa, k).json()
    assert j["status"] == "completed" and "message_stop" in j["response"], j
    j = queue_status(env, q5, k).json()
    assert j["status"] == "failed" and "500" in j["error_message"] and j["http_status"] == 500, j
    assert j["response"] == {"error": "boom"}
    j = queue_status(env, qt, k).json()
    assert j["status"] == "failed" and j["error_message"] and j["completed_at"], j
    rows = env.sql("SELECT queue_id, prompt_tokens, completion_tokens FROM request_log WHERE queue_id IS NOT NULL ORDER BY queue_id")
    assert [r[0] for r in rows] == [str(qs), str(qa), str(q5), str(qt)]
    assert rows[0][1:] == ["11", "22"] and rows[1][1:] == ["17", "20"]
    assert usage(env, "u")[2] == 2


def _busy_keys(env):
    """The mock busy_key of every request the upstream received, in order."""
    out = []
    for m in env.mock_requests():
        try:
            out.append(json.loads(m["body"]).get("mock", {}).get("busy_key"))
        except ValueError:
            out.append(None)
    return out


def _work_until_done(env, q, key):
    """Runs `queue_worker --once` (as cron would, again and again) until
    item q has ended; returns its queue_status."""
    t_end = time.time() + (150 if env.valgrind else 40)
    while True:
        r = env.queue_worker("--once")
        assert r.returncode == 0, r.stderr
        j = queue_status(env, q, key).json()
        if j["status"] in ("completed", "failed") or time.time() > t_end:
            return j
        time.sleep(0.3)


def test_busy_upstream_is_retried_not_stored(env):
    """A 429/503 from the upstream to a queued item puts it back to waiting
    (after Retry-After, else 1, 2, 4 ... s): it completes once the upstream
    serves it, and is metered exactly once, with the served answer."""
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 1)
    q = _enqueue(env, k, req(mock={"busy_key": "b1", "busy_times": 2, "retry_after": 1}))
    q2 = _enqueue(env, k, req(mock={"busy_key": "b2", "busy_times": 1, "busy_status": 503}))
    # told to come back in an hour: waits (capped at 300 s) until cancelled
    q3 = _enqueue(env, k, req(mock={"busy_key": "b3", "busy_times": 1, "retry_after": 3600}))
    t.join()
    r = env.queue_worker("--once")
    assert r.returncode == 0, r.stderr
    assert "upstream busy (HTTP 429), retry 1/5 in 1 s" in r.stderr, r.stderr
    assert "upstream busy (HTTP 503), retry 1/5 in 1 s" in r.stderr, r.stderr
    assert "item %d: upstream busy (HTTP 429), retry 1/5 in 300 s" % q3 in r.stderr, r.stderr
    j = queue_status(env, q, k).json()
    assert j["status"] == "waiting", j          # held back, not failed
    line = [x for x in env.relayctl("queue", "list").stdout.splitlines() if x.startswith("%d " % q3)]
    assert line and "upstream busy: retry 1/5 due " in line[0], line
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE queue_id IS NOT NULL") == "0"
    j = _work_until_done(env, q, k)
    assert j["status"] == "completed" and j["http_status"] == 200, j
    assert j["response"]["usage"]["total_tokens"] == 33, j
    assert _work_until_done(env, q2, k)["status"] == "completed"
    row = env.sql("SELECT attempts, retries FROM queue WHERE id = %d" % q)[0]
    assert row == ["3", "2"], row
    rows = env.sql("SELECT queue_id, http_status, total_tokens FROM request_log"
                   " WHERE queue_id IS NOT NULL ORDER BY queue_id")
    assert rows == [[str(q), "200", "33"], [str(q2), "200", "33"]], rows
    assert _busy_keys(env).count("b1") == 3 and _busy_keys(env).count("b2") == 2
    assert _busy_keys(env).count("b3") == 1                 # not due: never re-sent
    assert queue_status(env, q3, k).json()["status"] == "waiting"
    assert env.relayctl("queue", "cancel", str(q3)).returncode == 0
    assert usage(env, "u")[:2] == (4, 99), usage(env, "u")  # 4 reserved, 3 served


def test_busy_upstream_gives_up_after_retries(env):
    """After QUEUE_BUSY_RETRIES busy answers the last one is the item's
    result (stored and metered once), and a crash budget is untouched."""
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 1)
    q = _enqueue(env, k, req(mock={"busy_key": "always", "busy_times": 99, "retry_after": 0}))
    t.join()
    j = _work_until_done(env, q, k)
    assert j["status"] == "failed" and j["http_status"] == 429, j
    assert j["response"]["error"]["message"] == "mock upstream busy", j
    assert env.sql("SELECT attempts, retries FROM queue WHERE id = %d" % q)[0] == ["6", "5"]
    rows = env.sql("SELECT http_status, error FROM request_log WHERE queue_id = %d" % q)
    assert len(rows) == 1 and rows[0][0] == "429", rows
    assert _busy_keys(env).count("always") == 6


def test_relayctl_retry_of_a_metered_item_completes(env):
    """An item that failed at the upstream has its request_log row; after
    `relayctl queue retry` it completes without a second row."""
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 1)
    q = _enqueue(env, k, req(mock={"busy_key": "once500", "busy_times": 1, "busy_status": 500}))
    t.join()
    assert env.queue_worker("--once").returncode == 0
    j = queue_status(env, q, k).json()
    assert j["status"] == "failed" and j["http_status"] == 500, j
    assert env.relayctl("queue", "retry", str(q)).returncode == 0
    j = _work_until_done(env, q, k)
    assert j["status"] == "completed" and j["http_status"] == 200, j
    rows = env.sql("SELECT http_status FROM request_log WHERE queue_id = %d" % q)
    assert rows == [["500"]], rows


def test_queue_status_access(env):
    k = env.add_user("owner")
    other = env.add_user("other")
    t, _ = hold_slot(env, k, 2)
    q = _enqueue(env, k)
    t.join()
    assert queue_status(env, q, k).status == 200
    # Authorization: Bearer as call.php takes it (issue 26; before: 401)
    r = env.cgi("queue_status", query="queue_id=%d" % q,
                headers={"Authorization": "Bearer " + k})
    assert r.status == 200, r.body
    assert_error(queue_status(env, q, other), 404, "队列记录不存在")
    assert_error(queue_status(env, q + 1000, k), 404, "队列记录不存在")
    assert_error(queue_status(env, q), 401)
    assert_error(queue_status(env, q, "sk-nope"), 401)
    for bad in ("abc", "-1", "0", "1.5", "1%20OR%201=1", "99999999999999999999999", ""):
        assert_error(queue_status(env, bad, k), 400)
    assert_error(env.cgi("queue_status", headers={"X-API-Key": k}), 400)
    assert_error(env.cgi("queue_status", method="POST", query="queue_id=1"), 405)


def test_two_workers_two_slots_exactly_once(env):
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    e = env.relay_env(RELAY_UPSTREAM_SLOTS="2")
    # fill the queue directly: the web path is tested elsewhere
    uid = env.sql_value("SELECT id FROM users WHERE name='u'")
    kid = env.sql_value("SELECT id FROM api_keys LIMIT 1")
    for i in range(20):
        body = jbody(req(model="m%d" % i, mock={"stall": 0.05})).decode().replace("'", "''")
        env.sql("INSERT INTO queue (user_id, key_id, priority, format, model, stream, body) VALUES "
                "(%s, %s, 0, 'openai', 'm%d', 0, '%s')" % (uid, kid, i, body))
    procs = [subprocess.Popen([os.path.join(env.bin_dir, "queue_worker"), "--once"], env=e,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        p.wait(timeout=60)
    models = sorted(json.loads(x["body"])["model"] for x in env.mock_requests())
    assert models == sorted("m%d" % i for i in range(20)), models
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE status='completed'") == "20"
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "20"
    assert env.sql_value("SELECT COUNT(DISTINCT queue_id) FROM request_log") == "20"


def test_worker_killed_mid_item_recovers_once(env):
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 1)
    q = _enqueue(env, k, req(mock={"stall": 3}))
    t.join()
    for attempt in (1, 2):
        env.mock_reset()
        w = subprocess.Popen([os.path.join(env.bin_dir, "queue_worker"), "--once"],
                             env=env.relay_env(), stderr=subprocess.DEVNULL)
        wait_until(lambda: len(env.mock_requests()) >= 1, what="the worker to reach the upstream")
        assert env.sql_value("SELECT status FROM queue WHERE id=%d" % q) == "processing"
        w.send_signal(signal.SIGKILL)
        w.wait()
        # MariaDB frees a dead client's locks when it notices the closed
        # connection; the next worker (cron: a minute later) finds it free
        wait_until(lambda: env.sql_value("SELECT IS_FREE_LOCK(worker) FROM queue WHERE id=%d" % q) == "1",
                   what="MariaDB to release the killed worker's item lock")
    assert env.sql_value("SELECT attempts FROM queue WHERE id=%d" % q) == "2"
    # next run recovers the item (its worker's lock vanished) and completes it
    env.sql("UPDATE queue SET body = REPLACE(body, '\"stall\": 3', '\"stall\": 0') WHERE id=%d" % q)
    r = env.queue_worker("--once")
    assert r.returncode == 0, r.stderr
    j = queue_status(env, q, k).json()
    assert j["status"] == "completed", j
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE queue_id=%d" % q) == "1"
    assert env.sql_value("SELECT attempts FROM queue WHERE id=%d" % q) == "3"
    assert usage(env, "u") == (2, 66, 0)     # the slot holder + the queued item


def test_worker_gives_up_after_three_deaths(env):
    k = env.add_user("u")
    uid = env.sql_value("SELECT id FROM users WHERE name='u'")
    kid = env.sql_value("SELECT id FROM api_keys LIMIT 1")
    env.sql("INSERT INTO queue (user_id, key_id, format, model, body, status, attempts, worker, started_at)"
            " VALUES (%s, %s, 'openai', 'm', '{}', 'processing', 3, 'gone:item:1', NOW())" % (uid, kid))
    r = env.queue_worker("--once")
    assert r.returncode == 0, r.stderr
    row = env.sql("SELECT status, error_message FROM queue")[0]
    assert row[0] == "failed" and "3" in row[1], row
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "1"


def test_worker_wakes_when_slot_frees(env):
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 2)
    q = _enqueue(env, k)
    w = subprocess.Popen([os.path.join(env.bin_dir, "queue_worker"), "--once"],
                         env=env.relay_env(), stderr=subprocess.DEVNULL)
    t.join()
    wait_until(lambda: len(env.mock_requests()) >= 2, what="the queued item to reach the upstream")
    seen = env.mock_requests()
    # both on the mock's clock: the holder's answer left after its stall
    # (hold_slot's 2 s, tripled under valgrind); the client's own clock
    # saw it later than the worker could act on it
    answered = seen[0]["time"] + 2 * (3 if env.valgrind else 1)
    w.wait(timeout=30)
    print("wake-up latency: %.1f ms (the holder's answer -> the queued item at the upstream)"
          % ((seen[1]["time"] - answered) * 1000))
    assert queue_status(env, q, k).json()["status"] == "completed"


def test_relayctl_queue_commands(env):
    k = env.add_user("u")
    t, _ = hold_slot(env, k, 1)
    q1 = _enqueue(env, k)
    q2 = _enqueue(env, k)
    t.join()
    r = env.relayctl("queue", "list")
    assert r.returncode == 0 and str(q1) in r.stdout and "waiting" in r.stdout
    assert env.relayctl("queue", "cancel", str(q1)).returncode == 0
    j = queue_status(env, q1, k).json()
    assert j["status"] == "failed" and "cancel" in j["error_message"]
    assert env.relayctl("queue", "cancel", str(q1)).returncode == 1
    assert env.relayctl("queue", "retry", str(q1)).returncode == 0
    assert queue_status(env, q1, k).json()["status"] == "waiting"
    assert env.relayctl("queue", "retry", str(q2)).returncode == 1   # not failed
    env.queue_worker("--once")
    assert queue_status(env, q1, k).json()["status"] == "completed"


def test_retention_purges_old_results(env):
    k = env.add_user("u")
    uid = env.sql_value("SELECT id FROM users WHERE name='u'")
    kid = env.sql_value("SELECT id FROM api_keys LIMIT 1")
    env.sql("INSERT INTO queue (user_id, key_id, format, body, status, completed_at) VALUES "
            "(%s, %s, 'openai', '{}', 'completed', NOW() - INTERVAL 30 HOUR),"
            "(%s, %s, 'openai', '{}', 'completed', NOW() - INTERVAL 1 HOUR)" % (uid, kid, uid, kid))
    env.queue_worker("--once")
    assert env.sql_value("SELECT COUNT(*) FROM queue") == "1"


def _held_slot(env, key, name, via="cgi"):
    """A direct call the mock holds until /__release NAME (the only slot);
    returns (thread, box) once it is at the upstream."""
    n, box = len(env.mock_requests()), {}

    def run():
        box["resp"] = call(env, req(mock={"hold": name}), key, via=via, timeout=120)
    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: len(env.mock_requests()) > n, what="the held call at the upstream")
    return t, box


def _release(env, name):
    env.http(env.mock_url + "/__release", method="POST", body=name.encode(), timeout=10)


def test_queued_items_keep_the_token_limit(env):
    """Issue 25 point 5: a user at --daily-tokens 50 queues 10 items while
    the slot is held; when it frees, the worker runs two (33 tokens each)
    and ends the other eight failed with the seed's 429 message, one log
    row each, never sent upstream. Before: all 10 ran (330 of 50)."""
    holder = env.add_user("holder")
    tok = env.add_user("tok", daily_requests=0, daily_tokens=50)
    t, box = _held_slot(env, holder, "q5")
    ids = [_enqueue(env, tok) for _ in range(10)]
    _release(env, "q5")
    t.join()
    assert box["resp"].status == 200
    r = env.queue_worker("--once")
    assert r.returncode == 0, r.stderr
    st = env.sql("SELECT id, status, http_status, error_message FROM queue ORDER BY id")
    ran = [row for row in st if row[1] == "completed"]
    refused = [row for row in st if row[1] == "failed"]
    assert [int(row[0]) for row in ran] == ids[:2], st
    assert len(refused) == 8 and all(row[2] == "429" and row[3] == "今日Token用量已达上限"
                                      for row in refused), st
    j = queue_status(env, ids[-1], tok).json()
    assert j["status"] == "failed" and j["http_status"] == 429, j
    assert len(env.mock_requests()) == 3          # the holder and two items
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE queue_id IS NOT NULL") == "10"
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE http_status = 429 AND"
                         " error = '今日Token用量已达上限'") == "8"
    assert usage(env, "tok") == (10, 66, 8)
