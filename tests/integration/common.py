"""Helpers shared by the integration tests (on top of harness.Env)."""
import json
import threading
import time

OPENAI_REQ = {"model": "gpt-test", "messages": [{"role": "user", "content": "你好"}]}
ANTHROPIC_REQ = {"model": "claude-test", "max_tokens": 64, "system": "你是一个AI助手",
                 "messages": [{"role": "user", "content": "你好"}]}


def jbody(obj):
    """Compact UTF-8 JSON bytes, as clients send them."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def req(base=None, **extra):
    """A request object: OPENAI_REQ (or base) plus extra top-level fields."""
    d = dict(base or OPENAI_REQ)
    d.update(extra)
    return d


def call(env, payload, key=None, headers=None, via="cgi", stream=False, timeout=60,
         env_over=None, method="POST"):
    """POST /api/call.php through CGI ('cgi'), FastCGI ('fcgi') or a URL."""
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["X-API-Key"] = key
    h.update(headers or {})
    data = payload if isinstance(payload, (bytes, bytearray)) else jbody(payload)
    if via == "cgi":
        fn = env.cgi_stream if stream else env.cgi
        return fn("call", method=method, headers=h, body=data, timeout=timeout,
                  env=env_over)
    if via == "fcgi":
        fn = env.fcgi_stream if stream else env.fcgi
        return fn("call", method=method, headers=h, body=data, timeout=timeout)
    fn = env.http_stream if stream else env.http
    return fn(via + "/api/call.php", method=method, headers=h, body=data, timeout=timeout)


def call_popen(env, body, key, content_length=None, env_over=None):
    """Starts cgi-bin/call as plain CGI with the body already written and
    stdin closed; the caller reads p.stdout at its own pace (and waits).
    env_over: the base environment (default env.relay_env())."""
    import subprocess
    cenv = dict(env_over) if env_over is not None else env.relay_env()
    cenv.update({"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
                 "CONTENT_LENGTH": str(len(body) if content_length is None else content_length),
                 "HTTP_X_API_KEY": key})
    p = subprocess.Popen(env.cgi_argv("call"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=cenv)
    p.stdin.write(body)
    p.stdin.close()
    return p


def queue_status(env, qid, key=None, via="cgi"):
    h = {}
    if key is not None:
        h["X-API-Key"] = key
    if via == "cgi":
        return env.cgi("queue_status", query="queue_id=%s" % qid, headers=h)
    return env.http(via + "/api/queue_status.php?queue_id=%s" % qid, headers=h)


def assert_error(resp, code, contains=None):
    """The spec's error body with the matching HTTP status."""
    assert resp.status == code, "expected %d, got %d: %r" % (code, resp.status, resp.body[:300])
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    j = resp.json()
    assert j["success"] is False and j["code"] == code, j
    assert isinstance(j["message"], str) and j["message"], j
    if contains:
        assert contains in j["message"], (contains, j["message"])
    return j


def last_log(env):
    """The newest request_log row as a dict."""
    cols = ["user_id", "format", "model", "stream", "http_status", "prompt_tokens",
            "completion_tokens", "total_tokens", "usage_known", "error", "queue_id"]
    rows = env.sql("SELECT %s FROM request_log ORDER BY id DESC LIMIT 1" % ", ".join(cols))
    assert rows, "no request_log row"
    return dict(zip(cols, rows[0]))


def usage(env, user):
    """Today's (requests, tokens, errors) of a user, ints; zeros if no row.
    requests as members see it: durable ones plus those in flight
    (relay_requests_used)."""
    rows = env.sql("SELECT relay_requests_used(u.id, CURDATE()), COALESCE(d.tokens, 0),"
                   " COALESCE(d.errors, 0) FROM users u LEFT JOIN daily_usage d"
                   " ON d.user_id = u.id AND d.day = CURDATE() WHERE u.name = '%s'" % user)
    return tuple(int(x) for x in rows[0]) if rows else (0, 0, 0)


def upstream_bodies(env):
    return [r["body"] for r in env.mock_requests()]


def header(rec, name):
    """A header of a recorded upstream request (case-insensitive), or None."""
    for k, v in rec["headers"]:
        if k.lower() == name.lower():
            return v
    return None


def parallel(n, fn):
    """Runs fn(i) for i in range(n) in threads started together; results in order."""
    out = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported to the caller
            out[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(180)
    return out


def wait_until(pred, timeout=20, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def sse_events(data):
    """Splits an event-stream text into events (lists of lines)."""
    text = data.decode() if isinstance(data, bytes) else data
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [e for e in text.split("\n\n") if e.strip()]


def hold_slot(env, key, seconds):
    """Starts a direct call that keeps the (single) slot for `seconds`
    (three times as long under valgrind, where each call takes a second);
    returns (thread, box) once it is at the upstream, box["resp"] its answer."""
    if env.valgrind:
        seconds *= 3
    box = {}

    def run():
        box["resp"] = call(env, req(mock={"stall": seconds}), key, timeout=seconds + 30)
    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the slot holder to reach the upstream")
    return t, box
