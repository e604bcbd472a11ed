"""The dispatcher (issue 10): every slot busy while work waits, one order
for polled items and inline waiters (X-Relay-Wait), waiting without a poll,
and nothing left behind by clients that go away."""
import json
import os
import signal
import subprocess
import threading
import time

from common import call, call_popen, jbody, req, sse_events, usage, wait_until


def _max_overlap(recs):
    """Most upstream requests in flight at once, from the mock's record of
    each stalled request's start and end."""
    ev = []
    for r in recs:
        if "stall_end" in r:
            ev.append((r["time"], 1))
            ev.append((r["stall_end"], -1))
    ev.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _t, d in ev:
        cur += d
        best = max(best, cur)
    return best


def _hold(env, key, seconds, n=1, e=None):
    """n direct calls that each hold a slot for `seconds` (four times as long
    under valgrind, where starting each waiter takes about a second)."""
    if env.valgrind:
        seconds *= 4
    boxes = []
    # counted before the first holder starts: one may reach the mock at once
    before = len(env.mock_requests())
    for _ in range(n):
        box = {}

        def run(b=box):
            b["resp"] = call(env, req(mock={"stall": seconds}), key, timeout=seconds + 60,
                             env_over=e)
        t = threading.Thread(target=run)
        t.start()
        boxes.append((t, box))
    wait_until(lambda: len(env.mock_requests()) >= before + n, what="the holders upstream")
    return boxes


def _inline(env, key, e, body, wait=60, box=None, stream=False):
    box = box if box is not None else {}

    def run():
        box["resp"] = call(env, body, key, headers={"X-Relay-Wait": str(wait)},
                           timeout=wait + 60, env_over=e, stream=stream)
    t = threading.Thread(target=run)
    t.start()
    return t, box


def _waiting(env, n):
    wait_until(lambda: int(env.sql("SELECT COUNT(*) FROM queue WHERE status = 'waiting'")[0][0]) >= n,
               what="%d waiting rows" % n)


def test_four_slots_drain_twelve_items_four_at_a_time(env):
    e = env.relay_env(RELAY_UPSTREAM_SLOTS="4")
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    holders = _hold(env, k, 1, n=4, e=e)
    ids = []
    for i in range(12):
        r = call(env, req(mock={"stall": 1}, n=i), k, env_over=e)
        assert r.status == 202, (r.status, r.body)
        ids.append(r.json()["queue_id"])
    w = env.start_queue_worker("--max-seconds", "60", env=e)
    for t, _ in holders:
        t.join()
    wait_until(lambda: int(env.sql("SELECT COUNT(*) FROM queue WHERE status = 'completed'")[0][0]) == 12,
               timeout=60, what="12 completed items")
    recs = env.mock_requests()
    assert len(recs) == 16
    queued = [r for r in recs[4:]]
    print("drain of 12 x 1 s items over 4 slots: %.2f s" % (
        max(r["stall_end"] for r in queued) - min(r["time"] for r in queued)))
    assert _max_overlap(recs) == 4          # all slots used, never a fifth
    assert _max_overlap(queued) == 4
    # exactly once each, metered once each
    assert sorted(int(x) for (x,) in env.sql(
        "SELECT queue_id FROM request_log WHERE queue_id IS NOT NULL")) == sorted(ids)
    assert usage(env, "u")[0] == 16
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=30)


def test_inline_and_polled_waiters_start_in_priority_order(env):
    low = env.add_user("low", priority=0)
    mid = env.add_user("mid", priority=5)
    high = env.add_user("high", priority=9)
    e = env.relay_env()
    holder = _hold(env, low, 2, e=e)
    threads = []
    t, b1 = _inline(env, low, e, req(model="inline-low"))      # arrival 1, prio 0
    threads.append((t, b1))
    _waiting(env, 1)
    r = call(env, req(model="polled-mid"), mid, env_over=e)      # arrival 2, prio 5
    assert r.status == 202
    t, b2 = _inline(env, high, e, req(model="inline-high"))      # arrival 3, prio 9
    threads.append((t, b2))
    _waiting(env, 3)
    t, b3 = _inline(env, mid, e, req(model="inline-mid"))        # arrival 4, prio 5
    threads.append((t, b3))
    _waiting(env, 4)
    # relayctl and status.php see the inline waiters
    lst = env.relayctl("queue", "list")
    assert lst.returncode == 0 and lst.stdout.count("waiting") == 4, lst.stdout
    st = env.cgi("status").json()
    assert st["stats"]["queue_length"] == 4, st["stats"]
    w = env.start_queue_worker("--max-seconds", "60", env=e)
    for t, _ in holder + threads:
        t.join()
    wait_until(lambda: len(env.mock_requests()) == 5, what="all five upstream")
    order = [json.loads(x["body"])["model"] for x in env.mock_requests()[1:]]
    assert order == ["inline-high", "polled-mid", "inline-mid", "inline-low"], order
    for _t, b in threads:
        assert b["resp"].status == 200, b["resp"].body
    # one log row each, the inline ones tied to their queue rows
    assert int(env.sql("SELECT COUNT(*) FROM request_log")[0][0]) == 5
    assert int(env.sql("SELECT COUNT(*) FROM queue WHERE inline_wait = 1 AND status = 'completed'")[0][0]) == 3
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=30)


def test_direct_call_is_not_held_back_by_a_sleeping_retry(env):
    k = env.add_user("u")
    # a waiting item due only in an hour (busy-retry backoff) must not
    # make an equal-priority caller queue behind it
    env.sql("INSERT INTO queue (user_id, key_id, priority, format, model, stream, body, not_before)"
            " SELECT u.id, k.id, 0, 'openai', 'm', 0, '{}', NOW() + INTERVAL 1 HOUR"
            " FROM users u JOIN api_keys k ON k.user_id = u.id WHERE u.name = 'u'")
    r = call(env, req(), k)
    assert r.status == 200, (r.status, r.body)


def test_wait_timeout_and_full_queue_answers(env):
    k = env.add_user("u", daily_requests=0)
    e = env.relay_env(RELAY_QUEUE_WAIT_MAX="2")
    holder = _hold(env, k, 5, e=e)
    t0 = time.time()
    r = call(env, req(), k, headers={"X-Relay-Wait": "30"}, env_over=e)
    assert r.status == 503 and r.json()["code"] == 503, (r.status, r.body)
    assert r.headers.get("retry-after") and int(r.headers["retry-after"]) <= 60
    assert time.time() - t0 < 20
    row = env.sql("SELECT status, error_message FROM queue WHERE inline_wait = 1")
    assert row == [["failed", "queue wait timeout"]], row
    log = env.sql("SELECT http_status, error FROM request_log WHERE queue_id IS NOT NULL")
    assert log == [["503", "queue wait timeout"]], log
    bad = call(env, req(), k, headers={"X-Relay-Wait": "soon"}, env_over=e)
    assert bad.status == 400
    full = call(env, req(), k, headers={"X-Relay-Wait": "5"},
                env_over=env.relay_env(RELAY_QUEUE_MAX="0"))
    assert full.status == 503
    for th, _ in holder:
        th.join()


def test_streaming_waiter_gets_comments_then_the_stream(env):
    k = env.add_user("u")
    e = env.relay_env()
    holder = _hold(env, k, 5, e=e)
    r = call(env, req(stream=True, mock={"mode": "stream"}), k,
             headers={"X-Relay-Wait": "60"}, env_over=e, stream=True, timeout=90)
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    evs = sse_events(r.body)
    assert evs[0].startswith(": queued, position 1"), evs[:2]
    assert any("[DONE]" in x for x in evs), evs[-2:]
    assert usage(env, "u")[1] > 0
    for th, _ in holder:
        th.join()


def test_streaming_waiter_late_upstream_error_is_an_event(env):
    k = env.add_user("u")
    e = env.relay_env()
    holder = _hold(env, k, 4, e=e)
    r = call(env, req(stream=True, mock={"status": 500}), k,
             headers={"X-Relay-Wait": "60"}, env_over=e, stream=True, timeout=90)
    assert r.status == 200
    evs = sse_events(r.body)
    assert evs[0].startswith(": queued")
    # the request's own (OpenAI) error shape, as an event after the comment
    err = [x for x in evs[1:] if '"error"' in x]
    assert err and json.loads(err[0].split("data: ", 1)[1])["error"]["message"], evs
    assert env.sql("SELECT http_status FROM request_log") [-1] == ["500"]
    for th, _ in holder:
        th.join()


def test_disconnect_and_kill_while_waiting_leave_nothing_behind(env):
    k = env.add_user("u")
    e = env.relay_env()
    holder = _hold(env, k, 6, e=e)
    # 1. the client goes away: its place goes at once, no upstream call
    cenv = dict(e)
    cenv.update({"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
                 "HTTP_X_API_KEY": k, "HTTP_X_RELAY_WAIT": "60"})
    body = jbody(req(model="gone"))
    cenv["CONTENT_LENGTH"] = str(len(body))
    p = subprocess.Popen(env.cgi_argv("call"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=cenv)
    p.stdin.write(body)
    p.stdin.close()
    _waiting(env, 1)
    p.stdout.close()                       # the reader is gone
    wait_until(lambda: env.sql("SELECT status FROM queue WHERE model = 'gone'") == [["failed"]],
               timeout=10, what="the abandoned place to close")
    p.wait(timeout=10)
    log = env.sql("SELECT http_status, error FROM request_log WHERE model = 'gone'")
    assert log == [["499", "client disconnected while queued"]], log
    # 2. kill -9 of a waiting process: the next dispatcher closes its row
    cenv["CONTENT_LENGTH"] = str(len(jbody(req(model="killed"))))
    p = subprocess.Popen(env.cgi_argv("call"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=cenv)
    p.stdin.write(jbody(req(model="killed")))
    p.stdin.close()
    wait_until(lambda: env.sql("SELECT status FROM queue WHERE model = 'killed'") == [["waiting"]],
               what="the second waiter")
    p.kill()
    p.wait(timeout=10)
    t, b = _inline(env, k, e, req(model="after"))
    t.join()
    assert b["resp"].status == 200
    assert env.sql("SELECT status FROM queue WHERE model = 'killed'") == [["failed"]]
    assert env.sql("SELECT http_status FROM request_log WHERE model = 'killed'") == [["499"]]
    names = [json.loads(x["body"])["model"] for x in env.mock_requests()]
    assert "gone" not in names and "killed" not in names and "after" in names
    assert int(env.sql("SELECT COUNT(*) FROM queue WHERE status IN ('waiting','processing')")[0][0]) == 0
    for th, _ in holder:
        th.join()
    # requests: holder, gone, killed, after = 4; errors: the two that left
    assert usage(env, "u")[0] == 4 and usage(env, "u")[2] == 2


def test_user_max_concurrent_and_max_queued(env):
    k = env.add_user("u", daily_requests=0)
    assert env.relayctl("user", "set", "u", "--max-concurrent", "1", "--max-queued", "1").returncode == 0
    holder = _hold(env, k, 3)
    r = call(env, req(), k)
    assert r.status == 429 and r.headers.get("retry-after"), (r.status, r.body)
    # the refusal reserved nothing of the daily allowance
    assert usage(env, "u")[0] == 1
    for th, _ in holder:
        th.join()
    env.relayctl("user", "set", "u", "--max-concurrent", "0")
    other = env.add_user("other")
    holder = _hold(env, other, 3)
    assert call(env, req(), k).status == 202
    r = call(env, req(), k)
    assert r.status == 429, (r.status, r.body)
    for th, _ in holder:
        th.join()


def test_user_max_concurrent_default(env):
    """Issue 25.9: user_max_concurrent caps the requests in flight of users
    whose own max_concurrent is 0 (-1 = half the slots); an explicit
    per-user value wins. Slots 4: with -1, u (0 = the default, 2) holds two
    and its third is 429 while slots are free; w (explicit 3) runs a third
    at once; without the setting (0 = none) u's third runs."""
    u = env.add_user("u")
    w = env.add_user("w", max_concurrent=3)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "4"
    env.settings["RELAY_USER_MAX_CONCURRENT"] = "-1"
    box = {}

    def hold(key, i):
        box[i] = call(env, req(mock={"hold": "slot"}, n=i), key, timeout=100)
    ts = [threading.Thread(target=hold, args=(u, i)) for i in range(2)]
    for t in ts:
        t.start()
    try:
        wait_until(lambda: len(env.mock_requests()) >= 2, what="u's two at the upstream")
        r = call(env, req(), u)
        assert r.status == 429 and "并发" in r.json()["message"], (r.status, r.body)
        assert call(env, req(), w).status == 200
        env.settings["RELAY_USER_MAX_CONCURRENT"] = "0"
        assert call(env, req(), u).status == 200
    finally:
        for _ in ts:
            env.http(env.mock_url + "/__release", method="POST", body=b"slot", timeout=10)
        for t in ts:
            t.join(100)
    assert [box[i].status for i in range(2)] == [200, 200]
    # the holders' user locks were let go with their slots
    env.settings["RELAY_USER_MAX_CONCURRENT"] = "1"
    assert call(env, req(), u).status == 200


def test_two_web_nodes_share_the_slots(env):
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "2"
    env.start_lighttpd()
    node_a = env.lighttpd_url
    node_b = env.start_second_lighttpd("127.0.0.2")
    out = [None] * 8

    def run(i):
        via = node_a if i % 2 == 0 else node_b
        out[i] = call(env, req(mock={"stall": 1}, n=i), k, via=via,
                      headers={"X-Relay-Wait": "60"}, timeout=90)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(r is not None and r.status == 200 for r in out), [r and r.status for r in out]
    assert _max_overlap(env.mock_requests()) == 2
    assert usage(env, "u")[0] == 8 and int(env.sql("SELECT COUNT(*) FROM request_log")[0][0]) == 8


test_two_web_nodes_share_the_slots.timeout = 180


def test_database_restart_while_twenty_wait(env):
    """MariaDB goes away while 20 clients wait inline and one holds the
    slot: every client gets an answer or a clear error, no row is left
    waiting or processing for a dead owner, nothing is metered twice."""
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    e = env.relay_env(RELAY_QUEUE_WAIT_MAX="30")
    holder = _hold(env, k, 3, e=e)
    waiters = [_inline(env, k, e, req(model="w%d" % i), wait=30) for i in range(20)]
    _waiting(env, 20)
    env.stop_db()
    time.sleep(1)
    env.start_db()
    for t, _ in holder + waiters:
        t.join(120)
    codes = sorted(b["resp"].status for _t, b in waiters)
    assert all(c in (200, 500, 503) for c in codes), codes
    for _t, b in waiters:
        if b["resp"].status != 200:
            j = b["resp"].json()
            assert j["success"] is False and j["message"], j
    # a worker's recovery pass closes whatever lost its owner with the restart
    env.queue_worker("--once")
    wait_until(lambda: int(env.sql("SELECT COUNT(*) FROM queue WHERE status IN"
                                   " ('waiting', 'processing')")[0][0]) == 0,
               timeout=30, what="no row left waiting or processing")
    dup = env.sql("SELECT queue_id FROM request_log WHERE queue_id IS NOT NULL"
                  " GROUP BY queue_id HAVING COUNT(*) > 1")
    assert dup == [], dup
    ok = codes.count(200)
    print("after the restart: %d of 20 waiters served, the rest a clear error" % ok)
    # every one served upstream was served once
    names = [json.loads(x["body"])["model"] for x in env.mock_requests()]
    assert len(names) == len(set(names)), names


test_database_restart_while_twenty_wait.timeout = 240


def _held(env, key, name, via="cgi"):
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


def _v1_waiter(env, base, key, box, body=None):
    """A /v1 request through lighttpd (it always waits inline when busy)."""
    def run():
        box["resp"] = env.http(base + "/v1/chat/completions", method="POST",
                               headers={"Authorization": "Bearer " + key,
                                        "Content-Type": "application/json"},
                               body=jbody(body or req()), timeout=120)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_inline_waiters_keep_the_token_limit(env):
    """Issue 25 point 5, inline: three waiters of a user at --daily-tokens
    50 (33 an answer); when their turns come, two are forwarded and the
    third is answered the seed's 429 (one log row, no upstream call).
    Before: all three were forwarded."""
    holder = env.add_user("holder")
    tok = env.add_user("tok", daily_requests=0, daily_tokens=50)
    e = env.relay_env()
    t, box = _held(env, holder, "w5")
    ws = []
    for i in range(3):
        ws.append(_inline(env, tok, e, req()))
        _waiting(env, i + 1)
    _release(env, "w5")
    t.join()
    for th, _b in ws:
        th.join()
    codes = [b["resp"].status for _t, b in ws]
    assert codes == [200, 200, 429], codes
    assert ws[2][1]["resp"].json()["message"].startswith("今日Token用量已达上限"), ws[2][1]["resp"].body
    assert len(env.mock_requests()) == 3
    assert usage(env, "tok") == (3, 66, 1)
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE status = 'failed' AND http_status = 429") == "1"


def test_revoked_key_and_disabled_user_stop_their_queued_work(env):
    """Issue 25 point 6: with the slot held, hank and ivan each queue a
    polled item (202) and a /v1 inline waiter; hank's key is revoked and
    ivan disabled; when the slot frees none of the four reaches the
    upstream: each ends cancelled, with one log row counted as an error.
    Before: all four were forwarded and answered 200."""
    holder = env.add_user("holder")
    hank = env.add_user("hank")
    ivan = env.add_user("ivan")
    base = "http://127.0.0.1:%d" % env.start_lighttpd()
    t, box = _held(env, holder, "w6", via=base)
    polled, waiters = {}, {}
    for name, key in (("hank", hank), ("ivan", ivan)):
        r = call(env, req(), key, via=base)
        assert r.status == 202, (r.status, r.body)
        polled[name] = r.json()["queue_id"]
        waiters[name] = ({}, None)
        th = _v1_waiter(env, base, key, waiters[name][0])
        waiters[name] = (waiters[name][0], th)
        _waiting(env, 2 * len(polled))
    assert env.relayctl("key", "revoke", hank[:12]).returncode == 0
    assert env.relayctl("user", "set", "ivan", "--disable").returncode == 0
    w = env.start_queue_worker("--max-seconds", "60")
    _release(env, "w6")
    t.join()
    assert box["resp"].status == 200
    for b, th in waiters.values():
        th.join()
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM queue WHERE status IN"
                                     " ('waiting', 'processing')") == "0", what="the queue drained")
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=30)
    assert len(env.mock_requests()) == 1, [x["body"] for x in env.mock_requests()]
    for name in ("hank", "ivan"):
        r = waiters[name][0]["resp"]
        assert r.status == 503 and "cancelled" in r.json()["error"]["message"], (name, r.status, r.body)
        row = env.sql("SELECT status, http_status, error_message FROM queue WHERE id = %d" % polled[name])
        assert row[0][0] == "failed" and row[0][1] == "503" and "cancelled" in row[0][2], row
        assert usage(env, name) == (2, 0, 2), (name, usage(env, name))
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE http_status = 503") == "4"
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE status <> 'failed'") == "0"


def test_max_concurrent_holds_for_polled_items(env):
    """Issue 25 point 7: a user at --max-concurrent 1 queues 3 x call.php
    (202) and sends one /v1 request (an inline waiter) while the four
    slots are held; when they free, four workers and the waiter share them
    but the user never has two requests at the upstream at once (each
    stalls 0.3 s there), and all four are answered. Before: 4 at once."""
    env.settings["RELAY_UPSTREAM_SLOTS"] = "4"
    holder = env.add_user("holder")
    capu = env.add_user("capu")
    assert env.relayctl("user", "set", "capu", "--max-concurrent", "1").returncode == 0
    base = "http://127.0.0.1:%d" % env.start_lighttpd()
    holds = [_held(env, holder, "h7", via=base) for _ in range(4)]
    body = req(mock={"stall": 0.3})
    ids = []
    for _ in range(3):
        r = call(env, body, capu, via=base)
        assert r.status == 202, (r.status, r.body)
        ids.append(r.json()["queue_id"])
    box = {}
    th = _v1_waiter(env, base, capu, box, body)
    _waiting(env, 4)
    w = env.start_queue_worker("--workers", "4", "--max-seconds", "60")
    _release(env, "h7")
    for t, b in holds:
        t.join()
        assert b["resp"].status == 200
    th.join()
    assert box["resp"].status == 200, box["resp"].body
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM queue WHERE status = 'completed'") == "4",
               what="the queue drained")
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=30)
    recs = [x for x in env.mock_requests() if b'"stall"' in x["body"]]
    assert len(recs) == 4
    assert _max_overlap(recs) == 1, _max_overlap(recs)
    assert usage(env, "capu") == (4, 4 * 33, 0)
