"""POST /api/call.php (issue 3): validation, auth, limits, detection,
byte-exact pass-through, failures and metering."""
import json
import os
import time

from common import (ANTHROPIC_REQ, OPENAI_REQ, assert_error, call, header, hold_slot, jbody,
                    last_log, parallel, req, upstream_bodies, usage)


def test_openai_roundtrip_metered(env):
    key = env.add_user("alice")
    r = call(env, req(), key)
    assert r.status == 200, r.body
    assert r.headers["content-type"] == "application/json"
    j = r.json()
    assert j["object"] == "chat.completion" and j["usage"]["total_tokens"] == 33
    recs = env.mock_requests()
    assert len(recs) == 1 and recs[0]["path"] == "/v1/chat/completions"
    assert recs[0]["body"] == jbody(req())
    assert header(recs[0], "Authorization") == "Bearer upstream-secret-key-123"
    assert header(recs[0], "Content-Type") == "application/json"
    assert header(recs[0], "X-API-Key") is None and header(recs[0], "x-api-key") is None
    for k, v in recs[0]["headers"]:
        assert key not in v
    log = last_log(env)
    assert log["format"] == "openai" and log["model"] == "gpt-test" and log["http_status"] == "200"
    assert (log["prompt_tokens"], log["completion_tokens"], log["total_tokens"]) == ("11", "22", "33")
    assert log["usage_known"] == "1" and log["error"] is None
    assert usage(env, "alice") == (1, 33, 0)


def test_anthropic_roundtrip_headers(env):
    key = env.add_user("alice")
    r = call(env, ANTHROPIC_REQ, key, headers={"anthropic-beta": "tools-2024-04-04"})
    assert r.status == 200 and r.json()["type"] == "message"
    rec = env.mock_requests()[0]
    assert rec["path"] == "/v1/messages"
    assert header(rec, "x-api-key") == "upstream-secret-key-123"
    assert header(rec, "anthropic-version") == "2023-06-01"
    assert header(rec, "anthropic-beta") == "tools-2024-04-04"
    assert header(rec, "Authorization") is None
    log = last_log(env)
    # input 10 + cache_creation 3 + cache_read 4; output 20
    assert (log["format"], log["prompt_tokens"], log["completion_tokens"], log["total_tokens"]) == \
        ("anthropic", "17", "20", "37")
    call(env, ANTHROPIC_REQ, key, headers={"anthropic-version": "2024-01-01"})
    assert header(env.mock_requests()[-1], "anthropic-version") == "2024-01-01"


def test_format_detection_rules(env):
    key = env.add_user("alice")
    msg = [{"role": "user", "content": "hi"}]
    cases = [
        ({"model": "m", "messages": msg}, {}, "/v1/chat/completions"),
        ({"model": "m", "messages": msg, "system": "s"}, {}, "/v1/messages"),
        ({"model": "m", "messages": msg}, {"anthropic-version": "2023-06-01"}, "/v1/messages"),
        ({"model": "m", "messages": [{"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]}, {}, "/v1/messages"),
        ({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]}, {}, "/v1/messages"),
        ({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}]},
         {}, "/v1/messages"),
        ({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]},
         {}, "/v1/chat/completions"),
        ({"model": "m", "messages": msg, "system": "s"}, {"X-API-Format": "openai"}, "/v1/chat/completions"),
        ({"model": "m", "messages": msg}, {"X-API-Format": "Anthropic"}, "/v1/messages"),
        # a "system" role message is OpenAI, not a top-level system field
        ({"model": "m", "messages": [{"role": "system", "content": "s"}] + msg}, {}, "/v1/chat/completions"),
    ]
    for body, hdrs, path in cases:
        env.mock_reset()
        r = call(env, body, key, headers=hdrs)
        assert r.status == 200, (body, r.body)
        assert env.mock_requests()[0]["path"] == path, (body, hdrs)
    assert_error(call(env, req(), key, headers={"X-API-Format": "gemini"}), 400)


def test_byte_identical_unicode_and_5mb(env):
    key = env.add_user("alice", daily_tokens=0)
    # odd spacing, escapes, unicode, key order: all must survive untouched
    raw = ('{ "messages" : [ {"role":"user","content":"你好 \\u4f60 😀 \\"q\\" \\/"} ],\n'
           '  "model":"gpt-test", "mock": {"mode": "echo"}, "temperature": 0.70 }').encode()
    r = call(env, raw, key)
    assert r.status == 200 and r.body == raw
    assert env.mock_requests()[0]["body"] == raw
    big = jbody(req(mock={"mode": "echo"}, pad="字" * (5 * 1024 * 1024 // 3)))
    assert len(big) > 5 * 1024 * 1024
    r = call(env, big, key, timeout=120)
    assert r.status == 200 and r.body == big
    assert env.mock_requests()[-1]["body"] == big


def test_bad_requests(env):
    key = env.add_user("alice")
    assert_error(env.cgi("call", method="GET"), 405)
    assert_error(call(env, b"", key), 400)
    assert_error(call(env, b"not json", key), 400)
    assert_error(call(env, b"[1,2]", key), 400)
    assert_error(call(env, b'{"model":"m","messages":[]} trailing', key), 400)
    assert_error(call(env, {"messages": []}, key), 400, "model")
    assert_error(call(env, {"model": 5, "messages": []}, key), 400, "model")
    assert_error(call(env, {"model": "m"}, key), 400, "messages")
    assert_error(call(env, {"model": "m", "messages": {}}, key), 400, "messages")
    deep = b'{"model":"m","messages":[],"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_error(call(env, deep, key), 400)
    assert_error(call(env, b'{"model":"\xff\xfe","messages":[]}', key), 400)
    # declared too large: refused before reading
    e = env.relay_env(RELAY_MAX_BODY_BYTES="2048")
    assert_error(call(env, req(pad="x" * 4096), key, env_over=e), 413)
    assert env.mock_requests() == []
    assert usage(env, "alice") == (0, 0, 0)      # nothing reserved for bad input


def test_auth_failures(env):
    key = env.add_user("alice")
    assert_error(call(env, req()), 401, "API Key无效或缺失")
    assert_error(call(env, req(), ""), 401)
    assert_error(call(env, req(), "sk-unknown"), 401, "API Key无效或缺失")
    assert_error(call(env, req(), "' OR '1'='1"), 401)
    assert_error(call(env, req(), "x" * 5000), 401)
    assert_error(call(env, req(), key + " "), 401)
    env.relayctl("user", "set", "alice", "--disable")
    assert_error(call(env, req(), key), 401)
    env.relayctl("user", "set", "alice", "--enable")
    assert call(env, req(), key).status == 200
    k2 = env.relayctl("key", "create", "alice", "--expires", "2020-01-01").stdout.strip().splitlines()[-1]
    assert_error(call(env, req(), k2), 401, "过期")
    env.relayctl("key", "revoke", key[:12])
    assert_error(call(env, req(), key), 401)
    assert len(env.mock_requests()) == 1


def test_request_limit_atomic_under_concurrency(env):
    key = env.add_user("alice", daily_requests=10, daily_tokens=0)
    e = env.relay_env(RELAY_UPSTREAM_SLOTS="50")     # no queueing: all admitted go upstream
    results = parallel(50, lambda i: call(env, req(), key, env_over=e))
    codes = sorted(r.status for r in results)
    assert codes.count(200) == 10 and codes.count(429) == 40, codes
    for r in results:
        if r.status == 429:
            j = assert_error(r, 429, "今日请求次数已达上限")
            assert j["data"]["request_limit"] == 10 and j["data"]["request_used"] == 10, j
    assert len(env.mock_requests()) == 10
    assert usage(env, "alice")[0] == 10
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "10"


def test_token_limit(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=50)
    assert call(env, req(), key).status == 200      # 33 tokens
    assert call(env, req(), key).status == 200      # 66 >= 50 now
    j = assert_error(call(env, req(), key), 429, "今日Token用量已达上限")
    assert j["data"] == {"token_limit": 50, "token_used": 66}, j
    assert usage(env, "alice") == (2, 66, 0)


def test_endpoint_not_configured(env):
    key = env.add_user("alice")
    e = env.relay_env(RELAY_ANTHROPIC_URL="")
    j = assert_error(call(env, ANTHROPIC_REQ, key, env_over=e), 500)
    assert "anthropic_url" in j["message"], j
    assert call(env, req(), key, env_over=e).status == 200
    assert last_log(env)["http_status"] == "200"
    assert usage(env, "alice")[2] == 1     # the refused one is an error


def test_upstream_errors_pass_through(env):
    key = env.add_user("alice")
    body = '{"error":{"message":"rate limited 限流","type":"rate_limit_error"}}'
    r = call(env, req(mock={"status": 429, "body": body}), key)
    assert r.status == 429 and r.body == body.encode()
    r = call(env, req(mock={"status": 503, "body": "upstream down", "content_type": "text/plain"}), key)
    assert r.status == 503 and r.body == b"upstream down" and r.headers["content-type"] == "text/plain"
    assert last_log(env)["http_status"] == "503"
    assert usage(env, "alice")[2] == 2


def test_upstream_down_and_timeouts(env):
    key = env.add_user("alice")
    from harness import free_port
    e = env.relay_env(RELAY_OPENAI_URL="http://127.0.0.1:%d/v1/chat/completions" % free_port())
    j = assert_error(call(env, req(), key, env_over=e), 502, "大模型API调用失败")
    log = last_log(env)
    assert log["http_status"] == "502" and log["error"], log
    # stalls before the first byte: 502 once the request timeout passes
    e = env.relay_env(RELAY_REQUEST_TIMEOUT="2")
    t0 = time.time()
    assert_error(call(env, req(mock={"stall": 8}), key, env_over=e), 502)
    took = time.time() - t0
    assert took < 7, took            # ended by the relay's timeout, not the mock
    # closes without answering
    assert_error(call(env, req(mock={"mode": "close"}), key), 502)
    assert usage(env, "alice") == (3, 0, 3)
    # the slot was released every time: a normal call still goes straight through
    assert call(env, req(), key).status == 200


def test_no_usage_is_flagged(env):
    key = env.add_user("alice")
    r = call(env, req(mock={"usage": False}), key)
    assert r.status == 200
    log = last_log(env)
    assert log["usage_known"] == "0" and log["total_tokens"] == "0"


def test_fastcgi_mode(env):
    key = env.add_user("alice")
    for i in range(3):       # one process serves several requests
        r = call(env, req(), key, via="fcgi")
        assert r.status == 200 and r.json()["usage"]["total_tokens"] == 33, r.body
    assert_error(call(env, req(), "bad", via="fcgi"), 401)
    r = env.fcgi("status")
    assert r.status == 200 and r.json()["stats"]["today_requests"] == 3


def _tls_upstream(tmp):
    """A tiny HTTPS upstream with a self-signed certificate, in a thread."""
    import http.server
    import ssl
    import subprocess as sp
    import threading
    cert, keyf = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
    if not os.path.exists(cert):
        sp.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-keyout", keyf, "-out", cert],
               check=True, capture_output=True, timeout=60)

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            b = b'{"id":"tls","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, keyf)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_tls_verify_and_tls_failure(env):
    key = env.add_user("alice")
    srv = _tls_upstream(env.tmp)
    try:
        url = "https://127.0.0.1:%d/v1/chat/completions" % srv.server_address[1]
        # verification on (the default): a self-signed upstream is refused
        j = assert_error(call(env, req(), key, env_over=env.relay_env(RELAY_OPENAI_URL=url,
                                                                     RELAY_SSL_VERIFY="1")), 502)
        assert "SSL" in j["message"] or "certificate" in j["message"], j
        # verification off: it goes through
        r = call(env, req(), key, env_over=env.relay_env(RELAY_OPENAI_URL=url, RELAY_SSL_VERIFY="0"))
        assert r.status == 200 and r.json()["id"] == "tls", r.body
        # TLS spoken to a plain HTTP server: a TLS failure, 502
        plain = env.mock_url.replace("http://", "https://") + "/v1/chat/completions"
        assert_error(call(env, req(), key, env_over=env.relay_env(RELAY_OPENAI_URL=plain)), 502)
    finally:
        srv.shutdown()


def test_model_allow_list_on_every_call_path(env):
    """Issue 25 point 1: a key limited to MiniMax-M2.7 asks call.php for
    gpt-4-secret: 403 in the seed's shape before anything is queued or
    sent, on the direct path, the 202 queued path and the X-Relay-Wait
    path, through CGI, lighttpd and Apache; one log row per refusal, as
    /v1's model_not_allowed. (Before: 200, forwarded and logged; with the
    slot held 202 queued, and the waiter forwarded.)"""
    other = env.add_user("holder", daily_requests=0)
    env.add_user("alice")
    narrow = env.relayctl("key", "create", "alice", "--models",
                          "MiniMax-M2.7").stdout.split()[-1]
    env.start_lighttpd()
    env.start_apache()
    secret = req(model="gpt-4-secret")
    refused = 0
    for via in ("cgi", env.lighttpd_url, env.apache_url):
        assert_error(call(env, secret, narrow, via=via), 403, "gpt-4-secret")
        refused += 1
    assert env.mock_requests() == []
    r = call(env, req(model="MiniMax-M2.7"), narrow)
    assert r.status == 200, r.body
    # the one slot held: the same request would be queued (202) or wait
    env.mock_reset()
    t, box = hold_slot(env, other, 3)
    for via in ("cgi", env.lighttpd_url):
        assert_error(call(env, secret, narrow, via=via), 403)
        assert_error(call(env, secret, narrow, via=via, headers={"X-Relay-Wait": "30"}), 403)
        r = call(env, req(secret, stream=True), narrow, via=via, stream=True,
                 headers={"X-Relay-Wait": "30"})
        assert_error(r, 403)
        refused += 3
    assert env.sql_value("SELECT COUNT(*) FROM queue") == "0"
    t.join()
    assert box["resp"].status == 200
    assert [json.loads(x["body"])["model"] for x in env.mock_requests()] == ["gpt-test"]
    rows = env.sql("SELECT http_status, error, model FROM request_log WHERE user_id ="
                   " (SELECT id FROM users WHERE name = 'alice') ORDER BY id")
    assert [x for x in rows if x[0] != "200"] == \
        [["403", "model not allowed", "gpt-4-secret"]] * refused, rows
    assert usage(env, "alice")[2] == refused


def test_duplicate_model_key_refused(env):
    """issue 25 point 3: duplicate "model" keys were accepted; the
    allow-list read the last while an upstream may take the first."""
    key = env.add_user("alice", models="gpt-test")
    for raw in (b'{"model":"gpt-secret","model":"gpt-test","messages":[]}',
                b'{"model":"gpt-secret","mod\\u0065l":"gpt-test","messages":[]}',
                b'{"model":"gpt-secret","model\\u0000x":"gpt-test","messages":[]}'):
        r = call(env, raw, key)
        assert_error(r, 400)
        # queued and waiting requests go through the same door
        r = call(env, raw, key, headers={"X-Relay-Wait": "5"})
        assert_error(r, 400)
    assert env.mock_requests() == []
    assert call(env, req(model="gpt-test"), key).status == 200
