"""Hardening (issue 12): nothing escapes metering, nothing holds a slot
forever, every accepted request ends with one request_log row."""
import json
import socket
import threading

from common import (ANTHROPIC_REQ, assert_error, call, hold_slot, call_popen, jbody, last_log, req,
                    sse_events, upstream_bodies, usage, wait_until)


def _stream(env, body, key, **kw):
    r = call(env, body, key, stream=True, **kw)
    return r, b"".join(c for _, c in r.chunks)


def _chunks(data):
    """The JSON payloads of an OpenAI stream (without [DONE])."""
    out = []
    for e in sse_events(data):
        if e.startswith("data: {"):
            out.append(json.loads(e[6:]))
    return out


# ---- OpenAI streams ask for usage -------------------------------------------

def test_openai_stream_gets_include_usage_and_client_sees_what_it_asked(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    mock = {"mode": "stream", "n": 3, "usage_option": True}
    # the client did not ask: usage is asked for upstream, the extra chunk dropped
    raw = jbody(req(stream=True, mock=mock))
    r, data = _stream(env, raw, key)
    assert r.status == 200
    sent = upstream_bodies(env)[-1]
    # the smallest splice: exactly one member added at the front, all else byte for byte
    assert sent == b'{"stream_options":{"include_usage":true},' + raw[1:], sent[:120]
    chunks = _chunks(data)
    assert chunks and all(c["choices"] for c in chunks), chunks
    assert sse_events(data)[-1] == "data: [DONE]"
    log = last_log(env)
    assert (log["prompt_tokens"], log["completion_tokens"], log["usage_known"]) == ("11", "22", "1"), log

    # include_usage false is the client's choice for its own bytes: asked upstream, chunk dropped
    raw = jbody(req(stream=True, stream_options={"include_usage": False}, mock=mock))
    r, data = _stream(env, raw, key)
    assert json.loads(upstream_bodies(env)[-1])["stream_options"] == {"include_usage": True}
    assert all(c["choices"] for c in _chunks(data))
    assert last_log(env)["completion_tokens"] == "22"

    # the client asked itself: body unchanged, it gets the usage chunk
    raw = jbody(req(stream=True, stream_options={"include_usage": True}, mock=mock))
    r, data = _stream(env, raw, key)
    assert upstream_bodies(env)[-1] == raw
    assert _chunks(data)[-1]["choices"] == [] and _chunks(data)[-1]["usage"]["total_tokens"] == 33

    # switched off: nothing added, and such a stream reports no usage
    raw = jbody(req(stream=True, mock=mock))
    r, data = _stream(env, raw, key, env_over=env.relay_env(RELAY_STREAM_USAGE="0"))
    assert upstream_bodies(env)[-1] == raw
    assert last_log(env)["usage_known"] == "0"

    # non-stream and Anthropic requests are never touched
    for body in (req(), dict(ANTHROPIC_REQ, stream=True, mock={"mode": "stream"})):
        raw = jbody(body)
        call(env, raw, key)
        assert upstream_bodies(env)[-1] == raw


# ---- oversize events and cut bodies ----------------------------------------

def test_sse_event_over_1mib_passes_whole_and_its_usage_counts(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    big = {"type": "response.completed",
           "response": {"output_text": "x" * (1536 * 1024),
                        "usage": {"input_tokens": 7, "output_tokens": 9, "total_tokens": 16}}}
    events = [{"type": "response.created"}, big]
    r, data = _stream(env, req(stream=True, mock={"mode": "stream", "events": events, "chunk": 65536}), key)
    assert r.status == 200
    got = sse_events(data)
    assert len(got) == 2 and json.loads(got[1][6:]) == big
    log = last_log(env)
    assert (log["prompt_tokens"], log["completion_tokens"], log["usage_known"]) == ("7", "9", "1"), log
    assert log["error"] is None or log["error"] in ("NULL", ""), log


def test_sse_upstream_dies_inside_oversize_event(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    half = 'data: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n'
    events = [half, "data: " + "y" * (1300 * 1024)]   # never finished
    r, data = _stream(env, dict(ANTHROPIC_REQ, stream=True,
                                mock={"mode": "stream", "events": events, "close_after": 2}), key)
    assert r.status == 200
    # the whole first event, then the broken one as it came; no error event glued onto it
    assert data.startswith(half.encode()) and b"event: error" not in data
    log = last_log(env)
    assert log["error"] and log["prompt_tokens"] == "5", log   # message_start's input counts


def test_truncated_json_body_is_a_502_not_a_cut_200(env):
    key = env.add_user("alice")
    r = call(env, req(mock={"truncate": 40}), key)
    assert_error(r, 502)
    log = last_log(env)
    assert log["http_status"] == "502" and log["error"], log
    assert usage(env, "alice")[2] == 1
    # the same through the SDK route, in OpenAI's error format
    r = env.cgi("v1", method="POST", body=jbody(req(mock={"truncate": 40})),
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + key},
                env=dict(env.relay_env(), PATH_INFO="/v1/chat/completions",
                         SCRIPT_NAME="", REQUEST_URI="/v1/chat/completions"))
    assert r.status == 502 and r.json()["error"]["message"], (r.status, r.body[:200])


# ---- nothing holds a slot forever -----------------------------------------

def test_endless_pings_stop_at_stream_max_seconds(env):
    key = env.add_user("alice")
    r, data = _stream(env, req(stream=True, mock={"mode": "stream", "ping_for": 60, "ping_every": 0.2}),
                      key, env_over=env.relay_env(RELAY_STREAM_MAX_SECONDS="2"), timeout=50)
    assert sse_events(data)[-1].startswith("event: error"), data[-300:]
    assert "stream_max_seconds" in last_log(env)["error"]
    assert call(env, req(), key).status == 200      # the slot is free


def test_client_that_stops_reading_loses_its_slot(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    env.settings["RELAY_CLIENT_WRITE_TIMEOUT"] = "1"
    env.settings["RELAY_DRAIN_MAX_BYTES"] = "65536"
    port = env.start_lighttpd()
    body = jbody(req(stream=True, mock={"mode": "stream", "huge_mb": 64}))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(b"POST /api/call.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"X-API-Key: " + key.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                  b"\r\n\r\n" + body)
        # the client reads nothing more; the relay's write deadline gives up on it
        wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log") == "1", timeout=60,
                   what="the stalled client's request to be logged")
        log = last_log(env)
        assert log["error"].startswith("client disconnected"), log
        assert call(env, req(), key).status == 200   # slot free while the client still hangs
    finally:
        s.close()


# ---- one day per request; every accepted request ends with one row ----------

def _enqueue(env, key):
    r = call(env, req(), key)
    assert r.status == 202, (r.status, r.body)
    return r.json()["queue_id"]


def test_tokens_count_on_the_day_the_request_was_admitted(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    assert call(env, req(), key).status == 200
    assert env.sql_value("SELECT day = CURDATE() FROM request_log") == "1"
    env.mock_reset()
    t, _ = hold_slot(env, key, 2)
    qid = _enqueue(env, key)
    t.join()
    # the item was admitted (its request reserved) "yesterday"
    env.sql("UPDATE queue SET added_at = added_at - INTERVAL 1 DAY WHERE id = %d" % qid)
    env.sql("UPDATE daily_usage SET requests = requests - 1 WHERE day = CURDATE()")
    env.sql("INSERT INTO daily_usage (user_id, day, requests) SELECT user_id, CURDATE() - INTERVAL 1 DAY, 1"
            " FROM queue WHERE id = %d" % qid)
    r = env.queue_worker("--once")
    assert r.returncode == 0, r.stderr
    row = env.sql("SELECT day = CURDATE() - INTERVAL 1 DAY, total_tokens FROM request_log WHERE queue_id = %d" % qid)
    assert row == [["1", "33"]], row
    days = env.sql("SELECT day = CURDATE(), requests, tokens FROM daily_usage ORDER BY day")
    assert days == [["0", "1", "33"], ["1", "2", "66"]], days


def test_cancelled_and_deleted_users_items_get_one_log_row(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    bob = env.add_user("bob", daily_requests=0, daily_tokens=0)
    t, _ = hold_slot(env, key, 3)
    a = _enqueue(env, key)
    b1, b2 = _enqueue(env, bob), _enqueue(env, bob)
    r = env.relayctl("queue", "cancel", str(a))
    assert r.returncode == 0, r.stderr
    assert env.relayctl("queue", "cancel", str(a)).returncode != 0     # only once
    row = env.sql("SELECT http_status, error FROM request_log WHERE queue_id = %d" % a)
    assert row == [["503", "cancelled by administrator"]], row
    assert usage(env, "alice")[2] == 1
    r = env.relayctl("user", "del", "bob")
    assert r.returncode == 0, r.stderr
    rows = env.sql("SELECT queue_id, error FROM request_log WHERE queue_id IN (%d, %d) ORDER BY queue_id"
                   % (b1, b2))
    assert rows == [[str(b1), "user deleted"], [str(b2), "user deleted"]], rows
    t.join()
    assert env.queue_worker("--once").returncode == 0
    assert len(env.mock_requests()) == 1            # none of them went upstream
    # every accepted request has exactly one row
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "4"
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE queue_id IS NOT NULL"
                         " GROUP BY queue_id HAVING COUNT(*) > 1") in (None, "")


# ---- a result the queue cannot store ------------------------------------------

def test_queue_result_over_max_allowed_packet_fails_once(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    old = env.sql_value("SELECT @@GLOBAL.max_allowed_packet")
    env.sql("SET GLOBAL max_allowed_packet = 1048576")
    try:
        t, _ = hold_slot(env, key, 2)
        r = call(env, req(stream=True, mock={"mode": "stream", "huge_mb": 3}), key)
        assert r.status == 202, (r.status, r.body[:200])
        qid = r.json()["queue_id"]
        t.join()
        assert env.queue_worker("--once").returncode == 0
        row = env.sql("SELECT status, response IS NULL, error_message FROM queue WHERE id = %d" % qid)
        assert row[0][0] == "failed" and row[0][1] == "1" and "max_allowed_packet" in row[0][2], row
        log = env.sql("SELECT total_tokens, error IS NOT NULL FROM request_log WHERE queue_id = %d" % qid)
        assert log == [["33", "1"]], log               # metered once, with its usage
        assert env.queue_worker("--once").returncode == 0
        assert len(env.mock_requests()) == 2           # never sent upstream again
    finally:
        env.sql("SET GLOBAL max_allowed_packet = %s" % old)
