"""The SDK routes (issue 11) through lighttpd and Apache: formats, auth by
Bearer and x-api-key, byte-exact bodies, metering with the route, errors in
each API's own format, count_tokens, models."""
import json

from common import ANTHROPIC_REQ, OPENAI_REQ, header, jbody, req


def _bases(env):
    env.start_lighttpd()
    env.start_apache()
    return [env.lighttpd_url, env.apache_url]


def test_v1_chat_and_messages(env):
    key = env.add_user("alice")
    for base in _bases(env):
        for prefix in ("", "/api/call.php"):
            env.mock_reset()
            r = env.http(base + prefix + "/v1/chat/completions", method="POST",
                         headers={"Authorization": "Bearer " + key,
                                  "Content-Type": "application/json"}, body=jbody(OPENAI_REQ))
            assert r.status == 200, (base, prefix, r.body)
            assert r.json()["object"] == "chat.completion"
            assert env.mock_requests()[0]["body"] == jbody(OPENAI_REQ)
            assert "x-ratelimit-remaining-requests" in r.headers, r.headers
            body = jbody(dict(ANTHROPIC_REQ, stream=True))
            r = env.http(base + prefix + "/v1/messages?beta=true", method="POST",
                         headers={"x-api-key": key, "anthropic-version": "2023-06-01",
                                  "anthropic-beta": "a,b", "Content-Type": "application/json"},
                         body=body)
            assert r.status == 200, r.body
            assert r.headers["content-type"].startswith("text/event-stream")
            assert b"message_stop" in r.body
            rec = env.mock_requests()[-1]
            assert rec["path"] == "/v1/messages" and rec["body"] == body
    rows = env.sql("SELECT route, prompt_tokens FROM request_log ORDER BY id")
    assert [x[0] for x in rows] == ["chat", "messages"] * 4, rows


def test_v1_errors_in_format(env):
    key = env.add_user("bob")
    base = _bases(env)[0]
    r = env.http(base + "/v1/chat/completions", method="POST", body=jbody(OPENAI_REQ),
                 headers={"Content-Type": "application/json"})
    assert r.status == 401 and r.json()["error"]["type"] == "authentication_error"
    r = env.http(base + "/v1/messages", method="POST", body=b"{nope",
                 headers={"x-api-key": key})
    j = r.json()
    assert r.status == 400 and j["type"] == "error" and j["error"]["type"] == "invalid_request_error"
    r = env.http(base + "/v1/messages", method="GET", headers={"x-api-key": key})
    assert r.status == 405 and r.json()["type"] == "error"
    r = env.http(base + "/v1/nothing", method="POST", body=b"{}", headers={"x-api-key": key})
    assert r.status == 404 and r.json()["error"]["type"] == "not_found_error"
    r = env.http(base + "/v1/chat/completions", method="POST", body=b'{"model":"\xff"}',
                 headers={"x-api-key": key})
    assert r.status == 400
    r = env.http(base + "/v1/", method="HEAD")
    assert r.status == 200


def test_v1_count_tokens_and_models(env):
    key = env.add_user("carol")
    base = _bases(env)[0]
    h = {"Authorization": "Bearer " + key, "anthropic-version": "2023-06-01"}
    r = env.http(base + "/v1/messages/count_tokens", method="POST", headers=h,
                 body=jbody(dict(ANTHROPIC_REQ, mock={"no_count_tokens": True})))
    assert r.status == 200 and r.headers.get("x-relay-estimate") == "1", r.headers
    assert r.json()["input_tokens"] > 0
    r = env.http(base + "/v1/messages/count_tokens", method="POST", headers=h,
                 body=jbody(ANTHROPIC_REQ))
    # answered locally unless count_tokens_forward is on (issue 25 point 10)
    assert r.status == 200 and r.headers.get("x-relay-estimate") == "1", r.headers
    assert not [x for x in env.mock_requests() if x["path"].endswith("/count_tokens")]
    env.settings["RELAY_COUNT_TOKENS_FORWARD"] = "5"
    base = _bases(env)[0]
    r = env.http(base + "/v1/messages/count_tokens", method="POST", headers=h,
                 body=jbody(ANTHROPIC_REQ))
    assert r.status == 200 and r.json() == {"input_tokens": 42}
    r = env.http(base + "/v1/messages/count_tokens", method="POST", headers=h,
                 body=jbody(dict(ANTHROPIC_REQ, mock={"no_count_tokens": True})))
    assert r.status == 200 and r.headers.get("x-relay-estimate") == "1", r.headers
    r = env.http(base + "/v1/models", headers=h)
    j = r.json()
    assert r.status == 200 and j["has_more"] is False and j["data"][0]["type"] == "model", j
    r = env.http(base + "/v1/models", headers={"Authorization": "Bearer " + key})
    assert r.json()["object"] == "list"
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "0"


# ------------------------------------------------- bad input on every route

POST_ROUTES = [("/v1/chat/completions", "openai"), ("/v1/responses", "openai"),
               ("/v1/completions", "openai"), ("/v1/embeddings", "openai"),
               ("/v1/messages", "anthropic"), ("/v1/messages/count_tokens", "anthropic")]


def _err(r, status, fmt, etype):
    """An error in the route's own format with that status and type."""
    assert r.status == status, (status, r.status, r.body[:300])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    j = r.json()
    if fmt == "anthropic":
        assert j["type"] == "error" and set(j["error"]) == {"type", "message"}, j
        assert j["error"]["type"] == etype and j["error"]["message"], j
    else:
        assert set(j["error"]) == {"message", "type", "param", "code"}, j
        assert j["error"]["type"] == etype and j["error"]["message"], j
    return j


def _raw(port, head):
    """Sends raw request bytes (header values Python's http.client refuses
    to send); the status code of the answer."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def test_v1_bad_input_every_route(env):
    """No/unknown key, wrong method, non-JSON, oversized, invalid UTF-8, no
    model, a model not allowed, a header with CR/LF, unknown routes: each
    answered in the route's format, nothing sent upstream, only the
    admitted-then-refused 403 metered."""
    key = env.add_user("bad")
    env.add_user("narrow")
    narrow = env.relayctl("key", "create", "narrow", "--models", "only-this,mock-model").stdout.split()[-1]
    env.start_lighttpd()
    env.start_apache()
    big = b'{"model":"m","messages":[],"pad":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    for base in (env.lighttpd_url, env.apache_url + "/api/call.php"):
        for path, fmt in POST_ROUTES:
            url = base + path
            good = jbody(dict(ANTHROPIC_REQ if fmt == "anthropic" else OPENAI_REQ))
            h = {"Content-Type": "application/json"}
            _err(env.http(url, "POST", h, good), 401, fmt, "authentication_error")
            _err(env.http(url, "POST", dict(h, **{"x-api-key": "sk-nope"}), good), 401, fmt,
                 "authentication_error")
            _err(env.http(url, "POST", dict(h, Authorization="Bearer sk-nope"), good), 401,
                 fmt, "authentication_error")
            h["Authorization"] = "Bearer " + key
            for m in ("GET", "PUT", "DELETE"):
                r = env.http(url, m, h, good if m != "GET" else None)
                _err(r, 405, fmt, "invalid_request_error")
            for body in (b"{nope", b"[1,2]", b"", b'{"model":"m\xff\xfe"}', b'{"messages":[]}',
                         b'{"model":""}', b'{"model":"m"} x'):
                _err(env.http(url, "POST", h, body), 400, fmt, "invalid_request_error")
            _err(env.http(url, "POST", dict(h, Authorization="Bearer " + narrow), good), 403,
                 fmt, "permission_error")
            _err(env.http(url + "/nothing", "POST", h, good), 404, fmt, "not_found_error")
        # the oversized body once per server: 413 in each format
        _err(env.http(base + "/v1/chat/completions", "POST", h, big), 413, "openai",
             "invalid_request_error")
        _err(env.http(base + "/v1/messages", "POST", h, big), 413, "anthropic",
             "request_too_large")
        # GET /v1/models: keys checked, POST refused, the list filtered
        _err(env.http(base + "/v1/models"), 401, "openai", "authentication_error")
        _err(env.http(base + "/v1/models", headers={"x-api-key": "sk-nope",
                                                   "anthropic-version": "2023-06-01"}),
             401, "anthropic", "authentication_error")
        _err(env.http(base + "/v1/models", "POST", h, b"{}"), 405, "openai",
             "invalid_request_error")
        r = env.http(base + "/v1/models", headers={"Authorization": "Bearer " + narrow})
        # allowed and offered by the upstream's list, and (issue 26) the
        # allowed names the default backend takes (it takes every model)
        assert [m["id"] for m in r.json()["data"]] == ["mock-model", "only-this"], r.body
        for path, fmt in (("/v1/nothing", "openai"), ("/v1", "openai"),
                          ("/v1/chat/completions/x", "openai"), ("/v1/messages/x", "anthropic")):
            _err(env.http(base + path, "POST", h, b"{}"), 404, fmt, "not_found_error")
    # a header with CR/LF: the web servers refuse it themselves (400), so
    # the relay's own check is seen through plain CGI
    for port in (env.lighttpd_port, env.apache_port):
        for hv in (b"a\rb", b"a\nb", b"a\r\nX-Injected: 1"):
            body = jbody(ANTHROPIC_REQ)
            head = (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " +
                    key.encode() + b"\r\nanthropic-beta: " + hv + b"\r\nContent-Type: "
                    b"application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" %
                    len(body) + body)
            # CRLF simply ends the header: "X-Injected" is a header of its
            # own, which the relay never forwards
            assert _raw(port, head) == (200 if b"\r\n" in hv else 400), (port, hv)
    for path, fmt in POST_ROUTES:
        for name in ("Anthropic-Beta", "Anthropic-Version"):
            r = env.cgi("v1", method="POST", body=jbody(ANTHROPIC_REQ),
                        env=env.relay_env(PATH_INFO=path),
                        headers={"x-api-key": key, name: "a\r\nX-Injected: 1"})
            _err(r, 400, fmt, "invalid_request_error")
    # upstream saw only the two CRLF requests, without the injected header
    recs = [r for r in env.mock_requests() if r["method"] == "POST"]
    assert len(recs) == 2 and all(header(r, "x-injected") is None and
                                  header(r, "anthropic-beta") == "a" for r in recs), recs
    rows = env.sql("SELECT http_status, error, route FROM request_log ORDER BY id")
    # only the reserved-then-refused 403 of each metered route (count_tokens
    # is never metered), plus any raw request a web server let through
    assert sorted(x[0] for x in rows if x[0] != "403") == ["200", "200"], rows
    assert sum(1 for x in rows if x[0] == "403") == 2 * 5, rows
    assert all(x[1] == "model not allowed" for x in rows if x[0] == "403"), rows


# ------------------------------------------- count_tokens (issue 25 point 10)

def _ct(env, base, key, body=None):
    return env.http(base + "/v1/messages/count_tokens", method="POST",
                    headers={"x-api-key": key, "anthropic-version": "2023-06-01",
                             "Content-Type": "application/json"},
                    body=jbody(body or dict(ANTHROPIC_REQ, model="claude-test")))


def _ct_posts(env):
    return [r for r in env.mock_requests() if r["path"].endswith("/count_tokens")]


def test_count_tokens_held_to_the_member_rules(env):
    """A member at the daily limit, the only slot held, sends 30
    count_tokens: all 30 refused with 429 in Anthropic's shape, none reach
    the upstream (before: all 30 forwarded, 200). A disabled user and a
    revoked key get 401. Otherwise count_tokens is answered by the local
    estimator (X-Relay-Estimate: 1) and never forwarded unless
    count_tokens_forward is on."""
    from common import hold_slot
    holder = env.add_user("holder", daily_requests=0)
    dan = env.add_user("dan", daily_requests=1)
    base = _bases(env)[0]
    r = _ct(env, base, dan)
    assert r.status == 200 and r.headers.get("x-relay-estimate") == "1", (r.status, r.body)
    assert r.json()["input_tokens"] > 0 and _ct_posts(env) == []
    r = env.http(base + "/v1/messages", method="POST", body=jbody(ANTHROPIC_REQ),
                 headers={"x-api-key": dan, "anthropic-version": "2023-06-01"})
    assert r.status == 200, r.body          # dan's one request of the day
    env.mock_reset()
    t, box = hold_slot(env, holder, 3)
    for _ in range(30):
        r = _ct(env, base, dan)
        j = r.json()
        assert r.status == 429 and j["type"] == "error", (r.status, r.body)
        assert j["error"]["type"] == "rate_limit_error", j
    assert _ct_posts(env) == []
    t.join()
    assert box["resp"].status == 200
    env.relayctl("user", "set", "holder", "--disable")
    r = _ct(env, base, holder)
    assert r.status == 401 and r.json()["error"]["type"] == "authentication_error", r.body
    env.relayctl("user", "set", "holder", "--enable")
    assert _ct(env, base, holder).status == 200
    env.relayctl("key", "revoke", holder[:12])
    r = _ct(env, base, holder)
    assert r.status == 401 and r.json()["error"]["type"] == "authentication_error", r.body
    assert _ct_posts(env) == []
    assert env.sql_value("SELECT COUNT(*) FROM request_log WHERE route = 'count_tokens'") == "0"


def test_count_tokens_forwarding_is_rate_bounded(env):
    """count_tokens_forward = N forwards at most N count_tokens per member
    and second; the rest are answered by the estimator. 30 in a row from
    one member reach the upstream at most N times per second they span."""
    key = env.add_user("erin", daily_requests=0)
    env.settings["RELAY_COUNT_TOKENS_FORWARD"] = "2"
    base = _bases(env)[0]
    t0 = int(env.sql_value("SELECT UNIX_TIMESTAMP()"))
    answers = [_ct(env, base, key) for _ in range(30)]
    t1 = int(env.sql_value("SELECT UNIX_TIMESTAMP()"))
    assert all(r.status == 200 for r in answers), [r.status for r in answers]
    fwd = [r for r in answers if r.headers.get("x-relay-estimate") != "1"]
    assert all(r.json() == {"input_tokens": 42} for r in fwd), fwd
    assert 1 <= len(_ct_posts(env)) == len(fwd) <= 2 * (t1 - t0 + 1), (len(fwd), t1 - t0)


def test_v1_duplicate_deciding_keys_refused(env):
    """issue 25 point 3: duplicate "model" (or "stream") keys on /v1 get
    400 in the route's own format and never reach the upstream."""
    key = env.add_user("alice", models="gpt-test,claude-test")
    cases = [
        ("/v1/chat/completions", b'{"model":"gpt-secret","model":"gpt-test","messages":[]}', "openai"),
        ("/v1/chat/completions", b'{"model":"gpt-test","stream":true,"stre\\u0061m":false,"messages":[]}',
         "openai"),
        ("/v1/messages", b'{"model":"claude-secret","mod\\u0065l":"claude-test","max_tokens":5,'
         b'"messages":[]}', "anthropic"),
        ("/v1/responses", b'{"model":"gpt-test","input":"hi","previous_response_id":"a",'
         b'"previous_response_id":"b"}', "openai"),
    ]
    for path, raw, fmt in cases:
        r = env.cgi("v1", method="POST", body=raw, env=env.relay_env(PATH_INFO=path),
                    headers={"Authorization": "Bearer " + key, "anthropic-version": "2023-06-01"})
        assert r.status == 400, (path, raw, r.body)
        j = r.json()
        if fmt == "anthropic":
            assert j["type"] == "error" and j["error"]["type"] == "invalid_request_error", j
        else:
            assert j["error"]["type"] == "invalid_request_error", j
    assert env.mock_requests() == []


def _resp_post(env, key, body):
    return env.cgi("v1", method="POST", body=jbody(body),
                   env=env.relay_env(PATH_INFO="/v1/responses"),
                   headers={"Authorization": "Bearer " + key})


def test_v1_responses_bound_to_their_member(env):
    """issue 25 point 13: every member shares the upstream account, so a
    stored response id is bound to the member whose request created it:
    another member's previous_response_id gets 404 (before: forwarded),
    background work (unmeterable) gets 400 (before: forwarded)."""
    alice = env.add_user("alice")
    bob = env.add_user("bob")
    usage_ = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    base = {"model": "gpt-test", "input": "hi"}
    r = _resp_post(env, alice, dict(base, mock={"body": {
        "id": "resp_alice1", "object": "response", "status": "completed", "usage": usage_}}))
    assert r.status == 200, r.body
    ev = ['event: response.created\ndata: {"type":"response.created","response":'
          '{"id":"resp_alice2","object":"response","status":"in_progress"}}\n\n',
          'event: response.completed\ndata: {"type":"response.completed","response":'
          '{"id":"resp_alice2","object":"response","status":"completed","usage":'
          '{"input_tokens":5,"output_tokens":7,"total_tokens":12}}}\n\n']
    r = env.cgi("v1", method="POST", body=jbody(dict(base, stream=True,
                                                     mock={"mode": "stream", "events": ev})),
                env=env.relay_env(PATH_INFO="/v1/responses"),
                headers={"Authorization": "Bearer " + alice})
    assert r.status == 200 and b"resp_alice2" in r.body, r.body
    n = len(env.mock_requests())
    for rid in ("resp_alice1", "resp_alice2", "resp_nobody"):
        r = _resp_post(env, bob, dict(base, previous_response_id=rid))
        assert r.status == 404, (rid, r.body)
        j = r.json()["error"]
        assert j["type"] == "invalid_request_error" and j["code"] == "previous_response_not_found", j
    r = _resp_post(env, bob, dict(base, background=True))
    assert r.status == 400 and r.json()["error"]["code"] == "background_not_supported", r.body
    assert len(env.mock_requests()) == n, "a refused request reached the upstream"
    # the owner continues both
    for rid in ("resp_alice1", "resp_alice2"):
        r = _resp_post(env, alice, dict(base, previous_response_id=rid))
        assert r.status == 200, (rid, r.body)
    # reading or deleting a stored response is not routed at all
    for method in ("GET", "DELETE"):
        r = env.cgi("v1", method=method, env=env.relay_env(PATH_INFO="/v1/responses/resp_alice1"),
                    headers={"Authorization": "Bearer " + bob})
        assert r.status in (404, 405) and "error" in r.json(), (method, r.status, r.body)
    assert len(env.mock_requests()) == n + 2
    rows = env.sql("SELECT http_status, error FROM request_log l JOIN users u ON u.id = l.user_id"
                   " WHERE u.name = 'bob' ORDER BY l.id")
    assert [x[0] for x in rows] == ["404", "404", "404", "400"], rows
