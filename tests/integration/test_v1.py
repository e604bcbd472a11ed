"""The SDK routes (issue 11) through lighttpd and Apache: formats, auth by
Bearer and x-api-key, byte-exact bodies, metering with the route, errors in
each API's own format, count_tokens, models."""
import json

from common import ANTHROPIC_REQ, OPENAI_REQ, jbody, req


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
    assert r.status == 200 and r.json() == {"input_tokens": 42}
    r = env.http(base + "/v1/models", headers=h)
    j = r.json()
    assert r.status == 200 and j["has_more"] is False and j["data"][0]["type"] == "model", j
    r = env.http(base + "/v1/models", headers={"Authorization": "Bearer " + key})
    assert r.json()["object"] == "list"
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "0"
