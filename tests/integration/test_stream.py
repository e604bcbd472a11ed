"""SSE pass-through (issue 3): real-time delivery, framing, usage of every
stream shape, mid-stream failures and client disconnects."""
import json
import os
import signal
import subprocess
import time

from common import call_popen, ANTHROPIC_REQ, assert_error, call, last_log, req, sse_events, usage


def _stream(env, body, key, **kw):
    r = call(env, body, key, stream=True, **kw)
    return r, b"".join(c for _, c in r.chunks)


def test_stream_arrives_incrementally(env):
    key = env.add_user("alice")
    delay = 0.4
    r, data = _stream(env, req(stream=True, mock={"mode": "stream", "n": 3, "delay": delay,
                                                 "record_send_times": True}), key)
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers.get("cache-control") == "no-cache"
    assert r.headers.get("x-accel-buffering") == "no"
    sent = env.mock_requests()[0]["send_times"]
    # wall clock of each client chunk (harness chunks carry monotonic time)
    off = time.time() - time.monotonic()
    arrivals = [t + off for t, c in r.chunks if c.strip()]
    assert len(sent) >= 5 and len(arrivals) >= 4, (sent, arrivals)
    # causality, not speed: the first event reached the client while the
    # upstream had not yet sent its last one
    assert arrivals[0] < sent[-1], (arrivals[0], sent[-1])
    events = sse_events(data)
    assert events[-1] == "data: [DONE]"
    log = last_log(env)
    assert (log["stream"], log["prompt_tokens"], log["completion_tokens"], log["usage_known"]) == \
        ("1", "11", "22", "1")


def test_stream_bytes_identical_across_framings(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    ref = None
    for opts in ({}, {"chunk": 1}, {"chunk": 7}, {"split_mid_line": True}):
        env.mock_reset()
        m = {"mode": "stream", "n": 4}
        m.update(opts)
        r, data = _stream(env, req(stream=True, mock=m), key)
        assert r.status == 200
        if ref is None:
            ref = data
        assert data == ref, opts
        log = last_log(env)
        assert (log["prompt_tokens"], log["completion_tokens"]) == ("11", "22"), (opts, log)


def test_stream_usage_shapes(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    cases = [
        (req(stream=True, mock={"mode": "stream", "usage_style": "cumulative", "n": 5}), ("11", "22", "33", "1")),
        (req(stream=True, mock={"mode": "stream", "crlf": True, "comments": True}), ("11", "22", "33", "1")),
        (req(stream=True, mock={"mode": "stream", "usage_style": "none"}), ("0", "0", "0", "0")),
        (dict(ANTHROPIC_REQ, stream=True, mock={"mode": "stream"}), ("17", "20", "37", "1")),
        (dict(ANTHROPIC_REQ, stream=True, mock={"mode": "stream", "usage_style": "cumulative", "chunk": 3}),
         ("17", "20", "37", "1")),
        (dict(ANTHROPIC_REQ, stream=True, mock={"mode": "stream", "crlf": True}), ("17", "20", "37", "1")),
    ]
    for body, want in cases:
        r, data = _stream(env, body, key)
        assert r.status == 200, body
        log = last_log(env)
        assert (log["prompt_tokens"], log["completion_tokens"], log["total_tokens"], log["usage_known"]) == want, \
            (body["mock"], log)
    # multi-line data and an event name, supplied verbatim
    ev = ['event: message_start\ndata: {"type":"message_start","message":\ndata: {"usage":{"input_tokens":5}}}\n\n',
          'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n']
    r, data = _stream(env, dict(ANTHROPIC_REQ, stream=True, mock={"mode": "stream", "events": ev}), key)
    assert data == "".join(ev).encode()
    log = last_log(env)
    assert (log["prompt_tokens"], log["completion_tokens"]) == ("5", "9"), log


def test_stream_upstream_dies_midway(env):
    key = env.add_user("alice")
    r, data = _stream(env, req(stream=True, mock={"mode": "stream", "n": 6, "close_after": 3,
                                                 "split_mid_line": True}), key)
    assert r.status == 200
    events = sse_events(data)
    # every event is whole, and the last one says what went wrong
    for e in events[:-1]:
        assert e.startswith("data: {") and json.loads(e[6:]), e
    assert events[-1].startswith("event: error\ndata: "), events[-1]
    assert json.loads(events[-1].split("data: ", 1)[1])["type"] == "error"
    assert data.endswith(b"\n\n")
    log = last_log(env)
    assert log["http_status"] == "200" and log["error"], log
    assert usage(env, "alice")[2] == 1


def test_stream_stall_mid_stream_times_out(env):
    key = env.add_user("alice")
    e = env.relay_env(RELAY_REQUEST_TIMEOUT="2")
    t0 = time.time()
    r, data = _stream(env, req(stream=True, mock={"mode": "stream", "stall_after": 2, "stall_for": 10}),
                      key, env_over=e)
    assert time.time() - t0 < 9
    assert sse_events(data)[-1].startswith("event: error")
    assert "nothing" in last_log(env)["error"]


def test_stream_garbage_passes_through(env):
    key = env.add_user("alice")
    r, data = _stream(env, req(stream=True, mock={"mode": "stream", "garbage": True}), key)
    assert r.status == 200 and len(data) > 0
    assert last_log(env)["usage_known"] == "0"


def test_client_disconnect_mid_stream(env):
    key = env.add_user("alice")
    body = json.dumps(req(stream=True, mock={"mode": "stream", "n": 60, "delay": 0.05})).encode()
    p = call_popen(env, body, key)
    p.stdout.read(600)          # a few events, then hang up
    p.stdout.close()
    rc = p.wait(timeout=40)     # the relay notices, reads on (bounded), meters
    assert rc == 0, rc
    log = last_log(env)
    assert log["error"] == "client disconnected", log
    # issue 12: the upstream was read on without forwarding, so the usage
    # it reported at the end is metered instead of 0
    assert (log["prompt_tokens"], log["completion_tokens"], log["usage_known"]) == ("11", "22", "1"), log
    assert usage(env, "alice")[1] == 33
    # the slot is free again
    assert call(env, req(), key).status == 200


# ---- issue 25 point 3: no JSON spelling hides a stream's usage ---------------

def test_stream_escaped_stream_options_still_metered(env):
    """An escaped key (stream_\\u006fptions, include\\u005fusage) saying
    include_usage false: json-c decodes it, the old byte scanner did not and
    sent the body unchanged, so the stream was metered 0 tokens."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    mock = json.dumps({"mode": "stream", "n": 3, "usage_option": True})
    bodies = [
        '{"model":"gpt-test","stream":true,"stream_\\u006fptions":{"include_usage":false},'
        '"messages":[{"role":"user","content":"hi"}],"mock":%s}' % mock,
        '{"model":"gpt-test","stream":true,"stream_options":{"include\\u005fusage":false},'
        '"messages":[{"role":"user","content":"hi"}],"mock":%s}' % mock,
    ]
    for raw in bodies:
        env.mock_reset()
        r, data = _stream(env, raw.encode(), key)
        assert r.status == 200, (raw, r.body[:300])
        sent = json.loads(env.mock_requests()[-1]["body"])
        assert sent["stream_options"] == {"include_usage": True}, (raw, sent)
        log = last_log(env)
        assert (log["total_tokens"], log["usage_known"]) == ("33", "1"), (raw, log)
        # the usage chunk the relay asked for is not the client's
        assert b'"choices":[]' not in data, data[-300:]


def test_stream_duplicate_deciding_keys_refused(env):
    """A deciding key given twice: json-c keeps the last, an upstream may
    take the first (stream_options false first, true last hid usage)."""
    key = env.add_user("alice")
    mock = json.dumps({"mode": "stream", "n": 3, "usage_option": True})
    for raw in ('{"model":"gpt-test","stream":true,"stream_options":{"include_usage":false},'
                '"stream_options":{"include_usage":true},"messages":[],"mock":%s}' % mock,
                '{"model":"gpt-test","stream":true,"stream_options":{"include_usage":false,'
                '"include_usage":true},"messages":[],"mock":%s}' % mock,
                '{"model":"gpt-test","stream":false,"str\\u0065am":true,"messages":[],"mock":%s}' % mock):
        r = call(env, raw.encode(), key)
        assert_error(r, 400)
    assert env.mock_requests() == []


# ---- issue 25 point 8: no answer escapes metering by size or by a cut -------

def test_huge_plain_answer_usage_read_from_its_tail(env):
    """A non-stream answer over 16 MiB passed through unparsed and was
    metered 0 tokens although its usage ends the body."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    r = call(env, req(mock={"huge_json_mb": 17}), key, timeout=120)
    assert r.status == 200 and len(r.body) > 17 * 1024 * 1024, (r.status, len(r.body))
    assert r.body.endswith(b'"total_tokens":4001000}}'), r.body[-80:]
    log = last_log(env)
    assert (log["prompt_tokens"], log["completion_tokens"], log["total_tokens"],
            log["usage_known"]) == ("1000", "4000000", "4001000", "1"), log
    # none in its tail: an estimate, flagged as such (usage_known = 2)
    r = call(env, req(mock={"huge_json_mb": 17, "usage": False}), key, timeout=120)
    assert r.status == 200
    log = last_log(env)
    assert log["usage_known"] == "2" and int(log["completion_tokens"]) > 4000000, log
    assert int(log["prompt_tokens"]) > 0, log
    assert usage(env, "alice")[1] == 4001000 + int(log["total_tokens"])


def _leave_early(env, key, body, over):
    p = call_popen(env, json.dumps(body).encode(), key, env_over=over)
    p.stdout.read(600)          # a few events, then hang up
    p.stdout.close()
    assert p.wait(timeout=60) == 0
    return last_log(env)


def test_client_gone_past_drain_bound_metered_estimate(env):
    """A client that leaves before the end, with the drain bound reached
    before the usage (here drain_max_seconds = 0: not read on at all), was
    metered 0 tokens (OpenAI) or only message_start's counts (Anthropic)."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    over = env.relay_env(RELAY_DRAIN_MAX_SECONDS="0")
    log = _leave_early(env, key, req(stream=True, mock={"mode": "stream", "n": 90, "delay": 0.05}),
                       over)
    assert "drain bound" in log["error"], log
    assert log["usage_known"] == "2", log
    assert int(log["prompt_tokens"]) > 0 and int(log["completion_tokens"]) > 0, log
    t1 = int(log["total_tokens"])
    log = _leave_early(env, key, dict(ANTHROPIC_REQ, stream=True,
                                      mock={"mode": "stream", "n": 90, "delay": 0.05}), over)
    assert log["usage_known"] == "2", log
    # message_start's input (17) stays, the output is the text received (> its 1)
    assert log["prompt_tokens"] == "17" and int(log["completion_tokens"]) > 1, log
    assert usage(env, "alice")[1] == t1 + int(log["total_tokens"])
    # shown as estimated: relayctl usage, the console's list, /metrics
    out = env.relayctl("usage").stdout
    assert "estimated" in out and "alice" in out.split("estimated", 1)[1], out
    rows = env.sql("SELECT COUNT(*) FROM request_log WHERE usage_known = 2")
    assert rows[0][0] == "2", rows
    from test_metrics import scrape, settle, value
    settle(env)
    r, fams = scrape(env)
    assert r.status == 200, r.body
    assert value(fams, "llm_relay_requests_estimated", "llm_relay_requests_estimated_total") == 2, r.text
    assert value(fams, "llm_relay_estimated_tokens", "llm_relay_estimated_tokens_total") == \
        t1 + int(log["total_tokens"])
