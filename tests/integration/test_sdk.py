"""The SDK routes (issue 11) driven by the real clients from npm: the
official openai and @anthropic-ai/sdk packages (tests/integration/js/
sdk_ops.js) and the Claude Code CLI, through lighttpd and Apache, at the
root and below /api/call.php. Everything stays on 127.0.0.1.

The clients come from tests/npm/install.sh (outside the repository).
tests/run-all.sh installs them once and passes the folder in
LLM_RELAY_NPM_MODULES (or the failure in LLM_RELAY_NPM_ERROR); run alone,
this file runs the installer itself. Without the clients every test here
fails and says why: they are never skipped."""
import hashlib
import json
import os
import subprocess
import tempfile
import threading

from harness import ROOT

from common import header, jbody, wait_until

JS = os.path.join(ROOT, "tests", "integration", "js", "sdk_ops.js")
CANNED = "你好!我是模拟上游。"
UPSTREAM_KEY = "upstream-secret-key-123"
_NPM = {}


def node_modules():
    """The node_modules folder holding the pinned clients (AssertionError
    with the reason when they cannot be had)."""
    if "path" in _NPM:
        return _NPM["path"]
    err = os.environ.get("LLM_RELAY_NPM_ERROR")
    path = os.environ.get("LLM_RELAY_NPM_MODULES")
    if err:
        raise AssertionError("the npm clients are missing: tests/npm/install.sh failed "
                             "(%s); the SDK tests need npm and the registry" % err)
    if not path:
        r = subprocess.run(["sh", os.path.join(ROOT, "tests", "npm", "install.sh")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise AssertionError("the npm clients are missing: tests/npm/install.sh failed "
                                 "(exit %d): %s" % (r.returncode, r.stderr.strip()[-800:]))
        path = r.stdout.strip().splitlines()[-1]
    for pkg in ("openai", "@anthropic-ai/sdk", "@anthropic-ai/claude-code", "@openai/codex"):
        assert os.path.isdir(os.path.join(path, pkg)), \
            "the npm clients are missing: no %s in %s (run sh tests/npm/install.sh)" % (pkg, path)
    _NPM["path"] = path
    return path


def client_env(home, **extra):
    """A clean environment for a client, own HOME. Loopback only: the
    relay is reached directly (NO_PROXY) and anything else a client might
    try goes to a proxy that is not there (port 9), never off the machine.
    (Checked with strace: claude -p makes one connect(), to 127.0.0.1.)"""
    dead = "http://127.0.0.1:9"
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
         "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
         "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
         "NODE_PATH": node_modules()}
    e.update({k: str(v) for k, v in extra.items()})
    return e


def sdk(env, ops):
    """Runs the operations with the SDKs (one node process); their results."""
    path = os.path.join(env.tmp, "sdk-plan.json")
    with open(path, "w") as f:
        json.dump(ops, f, ensure_ascii=False)
    r = subprocess.run(["node", JS, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=client_env(env.tmp), timeout=100, text=True)
    assert r.returncode == 0, "node %s failed: %s" % (JS, r.stderr[-2000:])
    out = json.loads(r.stdout)
    assert len(out) == len(ops), out
    return out


def combos(env):
    """(base URL, path prefix) for both servers, root and below call.php."""
    node_modules()                             # first: fail at once without the clients
    env.start_lighttpd()
    env.start_apache()
    return [(b, p) for b in (env.lighttpd_url, env.apache_url) for p in ("", "/api/call.php")]


def posts(env):
    return [r for r in env.mock_requests() if r["method"] == "POST"]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def assert_untouched(rec, sent, key):
    """The upstream got the SDK's exact bytes, with the upstream key only."""
    assert sha(rec["body"]) == sent["body_sha256"], (rec["path"], len(rec["body"]), sent)
    flat = repr(rec["headers"])
    assert key not in flat, "client key went upstream"
    assert UPSTREAM_KEY in flat


def log_rows(env, since=0):
    env.settle()
    return env.sql("SELECT route, stream, http_status, prompt_tokens, completion_tokens,"
                   " total_tokens, usage_known, model FROM request_log WHERE id > %d"
                   " ORDER BY id" % since)


def last_id(env):
    return int(env.sql_value("SELECT COALESCE(MAX(id), 0) FROM request_log"))


# ---------------------------------------------------------------- OpenAI SDK

def test_sdk_openai(env):
    key = env.add_user("oa")
    chat = {"model": "gpt-test", "messages": [{"role": "user", "content": "你好"}]}
    for base, prefix in combos(env):
        env.mock_reset()
        since = last_id(env)
        url = base + prefix + "/v1"
        op = {"sdk": "openai", "base": url, "key": key}
        r_chat, r_stream, r_models = sdk(env, [dict(op, op="chat", params=chat),
                                               dict(op, op="chat_stream", params=chat),
                                               dict(op, op="models")])
        assert r_chat["ok"], r_chat
        assert r_chat["data"]["choices"][0]["message"]["content"] == CANNED
        assert r_chat["data"]["usage"]["total_tokens"] == 33
        assert int(r_chat["headers"]["x-ratelimit-remaining-requests"]) == 999, r_chat["headers"]
        assert r_chat["sent"][0]["url"] == url + "/chat/completions"
        assert "authorization" in r_chat["sent"][0]["header_names"]
        assert r_stream["ok"], r_stream
        chunks = r_stream["data"]
        text = "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in chunks if c["choices"])
        assert text == "词1词2词3", chunks
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 33
        assert r_models["ok"] and "mock-model" in r_models["data"], r_models
        recs = posts(env)
        assert [r["path"] for r in recs] == ["/v1/chat/completions"] * 2, recs
        assert_untouched(recs[0], r_chat["sent"][0], key)
        assert_untouched(recs[1], r_stream["sent"][0], key)
        assert json.loads(recs[1]["body"])["stream_options"] == {"include_usage": True}
        assert header(recs[0], "authorization") == "Bearer " + UPSTREAM_KEY
        rows = log_rows(env, since)
        assert rows == [["chat", "0", "200", "11", "22", "33", "1", "gpt-test"],
                        ["chat", "1", "200", "11", "22", "33", "1", "gpt-test"]], rows
        env.sql("DELETE FROM daily_usage")      # each round starts with 1000 left


def _responses_events():
    """A Responses API event stream (event: lines, usage in response.completed)."""
    resp = {"id": "resp_mock", "object": "response", "created_at": 1700000000,
            "model": "gpt-test", "status": "in_progress", "output": []}
    done = dict(resp, status="completed", output=[{
        "type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": "词1词2", "annotations": []}]}],
        usage={"input_tokens": 7, "output_tokens": 9, "total_tokens": 16})
    evs = [("response.created", {"type": "response.created", "response": resp})]
    for i, t in enumerate(("词1", "词2")):
        evs.append(("response.output_text.delta", {
            "type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
            "content_index": 0, "delta": t, "sequence_number": i + 1}))
    evs.append(("response.completed", {"type": "response.completed", "response": done}))
    return ["event: %s\ndata: %s\n\n" % (n, json.dumps(d, ensure_ascii=False))
            for n, d in evs]


def test_sdk_openai_other_routes(env):
    """embeddings, completions and responses (plain and streamed) with the
    OpenAI SDK: forwarded untouched, metered from each one's own usage."""
    key = env.add_user("oo")
    emb = {"object": "list", "model": "emb-test", "data": [
        {"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
        "usage": {"prompt_tokens": 5, "total_tokens": 5}}
    cmpl = {"id": "cmpl-1", "object": "text_completion", "created": 1700000000,
            "model": "gpt-test", "choices": [{"index": 0, "text": "ok", "finish_reason": "stop",
                                              "logprobs": None}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    resp = {"id": "resp_1", "object": "response", "created_at": 1700000000, "model": "gpt-test",
            "status": "completed", "output": [{
                "type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": CANNED, "annotations": []}]}],
            "usage": {"input_tokens": 6, "output_tokens": 8, "total_tokens": 14}}
    for base, prefix in combos(env)[::3]:
        env.mock_reset()
        since = last_id(env)
        op = {"sdk": "openai", "base": base + prefix + "/v1", "key": key}
        res = sdk(env, [
            dict(op, op="embeddings", params={"model": "emb-test", "input": "你好",
                                              "encoding_format": "float", "mock": {"body": emb}}),
            dict(op, op="completions", params={"model": "gpt-test", "prompt": "hi",
                                               "mock": {"body": cmpl}}),
            dict(op, op="responses", params={"model": "gpt-test", "input": "hi",
                                             "mock": {"body": resp}}),
            dict(op, op="responses_stream", params={"model": "gpt-test", "input": "hi",
                                                    "mock": {"events": _responses_events()}})])
        for r in res:
            assert r["ok"], r
        r_emb, r_cmpl, r_resp, r_rs = res
        assert r_emb["data"]["data"][0]["embedding"] == [0.25, -0.5]
        assert r_cmpl["data"]["choices"][0]["text"] == "ok"
        assert r_resp["data"]["output_text"] == CANNED, r_resp["data"]
        types = [e["type"] for e in r_rs["data"]]
        assert types[0] == "response.created" and types[-1] == "response.completed", types
        recs = posts(env)
        assert [r["path"] for r in recs] == ["/v1/embeddings", "/v1/completions",
                                             "/v1/responses", "/v1/responses"], recs
        for rec, r in zip(recs, res):
            assert_untouched(rec, r["sent"][0], key)
        rows = log_rows(env, since)
        assert [r[:7] for r in rows] == [
            ["embeddings", "0", "200", "5", "0", "5", "1"],
            ["completions", "0", "200", "3", "4", "7", "1"],
            ["responses", "0", "200", "6", "8", "14", "1"],
            ["responses", "1", "200", "7", "9", "16", "1"]], rows


# ------------------------------------------------------------- Anthropic SDK

def test_sdk_anthropic(env):
    key = env.add_user("an")
    # count_tokens forwarded (answered by the estimator by default)
    env.settings["RELAY_COUNT_TOKENS_FORWARD"] = "10"
    msg = {"model": "claude-test", "max_tokens": 64,
           "system": [{"type": "text", "text": "你是一个AI助手",
                       "cache_control": {"type": "ephemeral"}}],
           "messages": [{"role": "user", "content": "你好"}]}
    ct = {"model": "claude-test", "messages": msg["messages"]}
    for i, (base, prefix) in enumerate(combos(env)):
        env.mock_reset()
        since = last_id(env)
        url = base + prefix
        # the SDK sends Bearer for both apiKey and authToken (CLIENTS.md)
        op = {"sdk": "anthropic", "base": url, "key": key,
              "auth": "authToken" if i % 2 else "apiKey"}
        res = sdk(env, [dict(op, op="messages", params=msg),
                        dict(op, op="messages_stream", params=msg),
                        dict(op, op="messages_helper", params=msg),
                        dict(op, op="count_tokens", params=ct),
                        dict(op, op="count_tokens", params=dict(ct, mock={"no_count_tokens": True})),
                        dict(op, op="models")])
        for r in res:
            assert r["ok"], (url, r)
        r_msg, r_stream, r_helper, r_ct, r_est, r_models = res
        names = r_msg["sent"][0]["header_names"]
        assert "authorization" in names and "x-api-key" not in names, names
        assert r_msg["data"]["content"][0]["text"] == CANNED
        assert r_msg["data"]["usage"]["cache_read_input_tokens"] == 4
        assert "x-ratelimit-remaining-requests" in r_msg["headers"]
        types = [e["type"] for e in r_stream["data"]]
        assert types[0] == "message_start" and types[-1] == "message_stop", types
        assert "".join(e["delta"].get("text", "") for e in r_stream["data"]
                       if e["type"] == "content_block_delta") == "词1词2词3"
        assert r_helper["data"]["content"][0]["text"] == "词1词2词3", r_helper
        assert r_helper["data"]["usage"]["output_tokens"] == 20
        assert r_ct["data"] == {"input_tokens": 42} and "x-relay-estimate" not in r_ct["headers"]
        assert r_est["data"]["input_tokens"] > 0 and r_est["headers"]["x-relay-estimate"] == "1"
        m = r_models["data"]
        assert m and all(x["type"] == "model" and x["id"] and "display_name" in x and
                         "created_at" in x for x in m), m
        recs = posts(env)
        assert [r["path"].split("?")[0] for r in recs] == \
            ["/v1/messages"] * 3 + ["/v1/messages/count_tokens"] * 2, recs
        for rec, r in zip(recs, res[:5]):
            assert_untouched(rec, r["sent"][0], key)
            assert header(rec, "x-api-key") == UPSTREAM_KEY
            assert header(rec, "anthropic-version") == r["sent"][0]["anthropic_version"]
        # metering: one row per message call, cache tokens in the prompt
        # (10 + 3 + 4), count_tokens and models never logged
        rows = log_rows(env, since)
        assert rows == ([["messages", "0", "200", "17", "20", "37", "1", "claude-test"]] +
                        [["messages", "1", "200", "17", "20", "37", "1", "claude-test"]] * 2), rows


# ------------------------------------------------------------ error classes

def _etype(r):
    """The error type in the body the SDK parsed (OpenAI: e.error is the
    "error" member; Anthropic: the whole {"type":"error","error":{}})."""
    e = r.get("error") or {}
    return (e.get("error") or {}).get("type") if "error" in e else e.get("type")


def _error_plan(sdk_name, url, key, limited, narrow):
    """(operation, expected class, expected status, expected type) for each
    error class one SDK can meet; retries 0 unless the case is about them."""
    big = "x" * (11 * 1024 * 1024)             # over max_body_bytes (10 MiB)
    if sdk_name == "openai":
        op = {"sdk": "openai", "base": url + "/v1", "key": key}
        base = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
        call = "chat"
        up = lambda m: dict(base, mock=m)      # noqa: E731
        return [
            (dict(op, op=call, key="sk-unknown", params=base), "AuthenticationError", 401,
             "authentication_error"),
            (dict(op, op=call, key=narrow, params=base), "PermissionDeniedError", 403,
             "permission_error"),
            (dict(op, op="post", params={"path": "/nothing", "body": base}), "NotFoundError",
             404, "not_found_error"),
            (dict(op, op=call, params={"messages": base["messages"]}), "BadRequestError", 400,
             "invalid_request_error"),
            (dict(op, op=call, params=dict(base, messages=[{"role": "user", "content": big}])),
             "APIError", 413, "invalid_request_error"),   # the SDK has no 413 class
            (dict(op, op=call, key=limited, params=base), None, 200, None),
            # the daily limit: x-should-retry false keeps the SDK to ONE request
            (dict(op, op=call, key=limited, retries=2, params=base), "RateLimitError", 429,
             "rate_limit_error"),
            (dict(op, op=call, params=up({"status": 500})), "InternalServerError", 500,
             "server_error"),
            (dict(op, op=call, params=up({"status": 429, "headers": {
                "retry-after": "7", "x-request-id": "req-up-1"}})), "RateLimitError", 429,
             "server_error"),
        ]
    op = {"sdk": "anthropic", "base": url, "key": key}
    base = {"model": "claude-test", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]}
    call = "messages"
    up = lambda m: dict(base, mock=m)          # noqa: E731
    return [
        (dict(op, op=call, key="sk-unknown", params=base), "AuthenticationError", 401,
         "authentication_error"),
        (dict(op, op=call, key=narrow, params=base), "PermissionDeniedError", 403,
         "permission_error"),
        (dict(op, op="post", params={"path": "/v1/nothing", "body": base}), "NotFoundError",
         404, "not_found_error"),
        (dict(op, op=call, params={"max_tokens": 1, "messages": base["messages"]}),
         "BadRequestError", 400, "invalid_request_error"),
        (dict(op, op=call, params=dict(base, messages=[{"role": "user", "content": big}])),
         "ContentTooLargeError", 413, "request_too_large"),
        (dict(op, op=call, key=limited, params=base), None, 200, None),
        (dict(op, op=call, key=limited, retries=2, params=base), "RateLimitError", 429,
         "rate_limit_error"),
        (dict(op, op=call, params=up({"status": 529, "body": {"type": "error", "error": {
            "type": "overloaded_error", "message": "busy"}}})), "OverloadedError", 529,
         "overloaded_error"),
        (dict(op, op=call, params=up({"status": 500})), "InternalServerError", 500,
         "server_error"),
    ]


def test_sdk_error_classes(env):
    key = env.add_user("ok")
    n = 0
    for base, prefix in combos(env)[::3]:      # lighttpd at /, Apache below call.php
        for sdk_name in ("openai", "anthropic"):
            n += 1
            limited = env.add_user("lim%d" % n, daily_requests=1)
            env.add_user("nar%d" % n)
            r = env.relayctl("key", "create", "nar%d" % n, "--models", "only-this")
            narrow = r.stdout.strip().splitlines()[-1]
            plan = _error_plan(sdk_name, base + prefix, key, limited, narrow)
            env.mock_reset()
            since = last_id(env)
            res = sdk(env, [p[0] for p in plan])
            for (op, cls, status, etype), r in zip(plan, res):
                what = (base + prefix, sdk_name, op["op"], status)
                if cls is None:
                    assert r["ok"], (what, r)
                    continue
                assert not r["ok"] and r["error_class"] == cls and r["status"] == status, \
                    (what, r["error_class"], r["status"], r.get("message"))
                assert _etype(r) == etype, (what, r["error"])
                # one request each: retries 0, and the daily 429 stopped the SDK's 2
                assert r["requests"] == 1, (what, r["requests"])
                if status == 429 and etype == "rate_limit_error":
                    assert r["headers"]["x-should-retry"] == "false", r["headers"]
                    assert "retry-after" not in r["headers"], r["headers"]
                    assert "x-ratelimit-reset-requests" in r["headers"]
            if sdk_name == "openai":
                up429 = res[-1]
                # the upstream's own 429 comes back with the headers clients use
                assert up429["headers"]["retry-after"] == "7", up429["headers"]
                assert up429["headers"]["x-request-id"] == "req-up-1"
            # upstream saw only what got past the relay: the limited key's
            # first call and the two upstream errors; the 413 body never went up
            recs = posts(env)
            assert len(recs) == 3, [r["path"] for r in recs]
            assert max(len(r["body"]) for r in recs) < 1024
            # metering: the 403 (reserved, then refused) and every forwarded
            # call has its row; 401, 404, 400, 413 and the daily 429 none
            rows = log_rows(env, since)
            assert [x[2] for x in rows] == ["403", "200"] + [str(p[2]) for p in plan[-2:]], rows


def _hold_slot(env, key):
    """Starts a chat call the mock holds (POST /__release "slot" ends it)
    and waits until it is at the upstream, i.e. holds the one slot."""
    out = {}

    def run():
        out["r"] = env.http(env.lighttpd_url + "/v1/chat/completions", method="POST",
                            headers={"Authorization": "Bearer " + key,
                                     "Content-Type": "application/json"},
                            body=jbody({"model": "gpt-test", "mock": {"hold": "slot"},
                                        "messages": [{"role": "user", "content": "hold"}]}),
                            timeout=100)
    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: posts(env), what="the holder at the upstream")
    return t, out


def _release(env, t):
    env.http(env.mock_url + "/__release", method="POST", body=b"slot", timeout=10)
    t.join(100)


def test_sdk_busy_and_queue_full(env):
    """The one slot held and the wait queue full (queue_max 1, taken by a
    polled call.php item): a retryable answer each SDK knows (OpenAI 503
    InternalServerError, Anthropic 529 OverloadedError), Retry-After <= 60 s
    and no x-should-retry: false. (A polled item fills the queue because it
    holds no web server process: the pools may be only upstream_slots +
    queue_max processes.)"""
    node_modules()
    env.settings["RELAY_QUEUE_MAX"] = "1"
    key = env.add_user("busy")
    env.start_lighttpd()
    t, held = _hold_slot(env, key)
    q = env.http(env.lighttpd_url + "/api/call.php", method="POST",
                 headers={"X-API-Key": key, "Content-Type": "application/json"},
                 body=jbody({"model": "gpt-test", "messages": [{"role": "user", "content": "q"}]}))
    assert q.status == 202, (q.status, q.body[:300])
    try:
        base = env.lighttpd_url
        res = sdk(env, [
            {"sdk": "openai", "op": "chat", "base": base + "/v1", "key": key,
             "params": {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}},
            {"sdk": "anthropic", "op": "messages", "base": base, "key": key,
             "params": {"model": "claude-test", "max_tokens": 8,
                        "messages": [{"role": "user", "content": "x"}]}}])
    finally:
        _release(env, t)
    assert held["r"].status == 200
    for r, cls, status, etype in zip(res, ("InternalServerError", "OverloadedError"),
                                     (503, 529), ("overloaded_error", "overloaded_error")):
        assert not r["ok"] and r["error_class"] == cls and r["status"] == status, r
        assert _etype(r) == etype, r["error"]
        assert 0 < int(r["headers"]["retry-after"]) <= 60, r["headers"]
        assert r["headers"].get("x-should-retry") != "false"
    assert len(posts(env)) == 1                # neither went upstream
    env.settle()          # the holder is metered after its answer went out
    rows = env.sql("SELECT route, http_status, error FROM request_log WHERE route <> 'call'"
                   " ORDER BY id")
    assert sorted(rows) == [["chat", "200", None], ["chat", "503", "queue full"],
                            ["messages", "529", "queue full"]], rows


# ------------------------------------------------------------- Claude Code

def _claude_argv(prompt):
    claude = os.path.join(node_modules(), ".bin", "claude")
    assert os.path.exists(claude), "no Claude Code CLI at %s (tests/npm/install.sh)" % claude
    return [claude, "-p", prompt, "--output-format", "json"]


def _claude_env(env, base, auth_var, key):
    """Claude Code at the relay only: its own HOME, no nonessential traffic
    (telemetry, error reports, update checks), no proxy (CLIENTS.md)."""
    home = tempfile.mkdtemp(prefix="claude-home-", dir=env.tmp)
    return client_env(home, ANTHROPIC_BASE_URL=base, ANTHROPIC_MODEL="mock-claude",
                      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1, DISABLE_AUTOUPDATER=1,
                      DISABLE_TELEMETRY=1, DISABLE_ERROR_REPORTING=1,
                      CLAUDE_CODE_DISABLE_TERMINAL_TITLE=1, **{auth_var: key})


def _claude_result(p_out, rc, err):
    assert rc == 0, "claude exit %s: %s %s" % (rc, p_out[-1500:], err[-1500:])
    j = json.loads(p_out)
    assert j["is_error"] is False and j["subtype"] == "success", j
    assert j["result"] == "词1词2词3", j
    return j


def _claude_messages(env):
    """The mock's records of Claude Code's message calls."""
    return [r for r in env.mock_requests()
            if r["path"].startswith("/v1/messages") and "count_tokens" not in r["path"]
            and json.loads(r["body"]).get("model") == "mock-claude"]


def _assert_claude_upstream(env, recs, rows):
    assert recs, "Claude Code sent no message"
    for rec in recs:
        # the client's ?beta=true is accepted, not forwarded (as test_v1)
        assert rec["path"] == "/v1/messages", rec["path"]
        body = json.loads(rec["body"])
        assert body["stream"] is True and body["model"] == "mock-claude"
        assert header(rec, "x-api-key") == UPSTREAM_KEY and header(rec, "authorization") is None
        assert "claude-code-" in (header(rec, "anthropic-beta") or ""), rec["headers"]
        assert header(rec, "anthropic-version")
    assert rows and all(r[:7] == ["messages", "1", "200", "17", "20", "37", "1"] and
                        r[7] == "mock-claude" for r in rows), rows
    assert len(rows) == len(recs), (rows, len(recs))


def test_claude_code(env):
    """claude -p through the relay with ANTHROPIC_API_KEY (x-api-key) at
    lighttpd's root, and with ANTHROPIC_AUTH_TOKEN (Bearer) at Apache below
    /api/call.php."""
    node_modules()
    key = env.add_user("cc")
    env.start_lighttpd()
    env.start_apache()
    for base, var in ((env.lighttpd_url, "ANTHROPIC_API_KEY"),
                      (env.apache_url + "/api/call.php", "ANTHROPIC_AUTH_TOKEN")):
        env.mock_reset()
        since = last_id(env)
        r = subprocess.run(_claude_argv("say hi"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=110,
                           env=_claude_env(env, base, var, key), cwd=env.tmp)
        _claude_result(r.stdout, r.returncode, r.stderr)
        _assert_claude_upstream(env, _claude_messages(env), log_rows(env, since))
test_claude_code.timeout = 240


def test_claude_code_waits_for_a_busy_slot(env):
    """Every upstream slot (1) held by a request the mock holds: Claude Code's
    stream waits inline in the relay (no 202, no 429) and succeeds once the
    slot frees; its call reaches the upstream only after the holder's."""
    node_modules()
    key = env.add_user("cc")
    env.start_lighttpd()
    t, holder = _hold_slot(env, key)
    p = None
    try:
        p = subprocess.Popen(_claude_argv("say hi"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=env.tmp,
                             env=_claude_env(env, env.lighttpd_url, "ANTHROPIC_API_KEY", key))
        env._running.add(p)                    # stopped by the harness if the test fails
        # Claude Code's request is in line, on its own connection
        wait_until(lambda: env.sql_value(
            "SELECT COUNT(*) FROM queue WHERE inline_wait = 1 AND status = 'waiting'") != "0",
            timeout=100, what="Claude Code waiting inline")
        assert len(posts(env)) == 1                # nothing went past the held slot
    finally:
        _release(env, t)
    out, err = p.communicate(timeout=110)
    _claude_result(out, p.returncode, err)
    assert holder["r"].status == 200, holder["r"].body[:300]
    recs = env.mock_requests()
    held = [r for r in recs if r["path"] == "/v1/chat/completions"]
    mine = _claude_messages(env)
    assert len(held) == 1 and mine
    assert min(r["time"] for r in mine) >= held[0]["hold_end"], (held, mine)
    rows = log_rows(env)
    _assert_claude_upstream(env, mine, [r for r in rows if r[0] == "messages"])
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE status = 'waiting'") == "0"
test_claude_code_waits_for_a_busy_slot.timeout = 240
