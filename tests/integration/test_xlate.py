"""Anthropic <-> OpenAI translation (issue 14) through lighttpd (and Apache
for the SDKs): an SDK route whose format has no upstream configured is
translated to the other format and back. Plain HTTP first (shapes, usage,
errors, refusals, the request_log row), then the real clients: the
@anthropic-ai/sdk and `claude -p` (with one tool round trip) against an
OpenAI-only upstream, the openai SDK against an Anthropic-only one.

The mock's behaviour comes from POST /__default_mock, since translation
drops unknown members such as the body's "mock"."""
import json
import os
import subprocess
import time

from common import header, jbody, wait_until
from test_sdk import (UPSTREAM_KEY, _claude_argv, _claude_env, client_env,
                      node_modules, sdk)

CANNED = "你好!我是模拟上游。"


def _openai_only(env):
    env.settings["RELAY_ANTHROPIC_URL"] = None
    env.settings["RELAY_ANTHROPIC_BASE_URL"] = None


def _anthropic_only(env):
    env.settings["RELAY_OPENAI_URL"] = None
    env.settings["RELAY_OPENAI_BASE_URL"] = None


def _default_mock(env, mock):
    r = env.http(env.mock_url + "/__default_mock", method="POST",
                 body=json.dumps(mock).encode(), timeout=10)
    assert r.status == 200, r.status


def _posts(env):
    return [r for r in env.mock_requests() if r["method"] == "POST"]


def _rows(env, n):
    """request_log, once it has n rows: the relay answers the client
    before it meters, so a row may land just after the answer."""
    wait_until(lambda: int(env.sql_value("SELECT COUNT(*) FROM request_log")) >= n,
               timeout=30 * env.timeout_factor, what="%d request_log rows" % n)
    # sorted: two requests in a row may be metered by two processes in
    # either order
    return sorted(env.sql("SELECT route, format, translated, stream, http_status,"
                          " prompt_tokens, completion_tokens, usage_known, error"
                          " FROM request_log"), key=repr)


def _events(body):
    """(event name or None, parsed data or the raw text) of an SSE body."""
    out = []
    for block in body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            d = "\n".join(data)
            out.append((name, d if d == "[DONE]" else json.loads(d)))
    return out


ANTH_HDRS = {"anthropic-version": "2023-06-01", "Content-Type": "application/json"}
MSG = {"model": "gpt-test", "max_tokens": 64, "system": "Be brief.",
       "messages": [{"role": "user", "content": "你好"}]}
CHAT = {"model": "claude-test", "messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "你好"}]}


def test_xlate_messages_on_openai_upstream(env):
    """/v1/messages with only openai_url: the upstream gets an OpenAI chat
    request (Bearer upstream key, system message, include_usage for a
    stream), the client an Anthropic message and event stream; metered
    from the upstream's own usage, logged as translated."""
    _openai_only(env)
    key = env.add_user("alice")
    base = env.start_lighttpd()
    base = env.lighttpd_url
    r = env.http(base + "/v1/messages", method="POST", body=jbody(MSG),
                 headers=dict(ANTH_HDRS, **{"x-api-key": key}))
    assert r.status == 200, r.body
    j = r.json()
    assert j["type"] == "message" and j["role"] == "assistant", j
    assert j["content"] == [{"type": "text", "text": CANNED}], j
    assert j["stop_reason"] == "end_turn"
    assert j["usage"]["input_tokens"] == 11 and j["usage"]["output_tokens"] == 22, j
    rec = _posts(env)[-1]
    assert rec["path"] == "/v1/chat/completions", rec["path"]
    up = json.loads(rec["body"])
    assert up["messages"] == [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "你好"}], up
    assert up["max_tokens"] == 64 and "system" not in up
    assert header(rec, "authorization") == "Bearer " + UPSTREAM_KEY
    assert key not in repr(rec["headers"])

    r = env.http(base + "/v1/messages?beta=true", method="POST",
                 body=jbody(dict(MSG, stream=True)),
                 headers=dict(ANTH_HDRS, **{"x-api-key": key}))
    assert r.status == 200, r.body
    assert r.headers["content-type"].startswith("text/event-stream")
    evs = _events(r.body)
    names = [n for n, _ in evs]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
    text = "".join(d["delta"]["text"] for n, d in evs if n == "content_block_delta")
    assert text == "词1词2词3", evs
    assert evs[-2][1]["usage"]["output_tokens"] == 22, evs[-2]
    up = json.loads(_posts(env)[-1]["body"])
    assert up["stream"] is True and up["stream_options"] == {"include_usage": True}, up
    assert _rows(env, 2) == [["messages", "anthropic", "1", "0", "200", "11", "22", "1", None],
                          ["messages", "anthropic", "1", "1", "200", "11", "22", "1", None]]


def test_xlate_chat_on_anthropic_upstream(env):
    """/v1/chat/completions with only anthropic_url: an Anthropic request
    (x-api-key upstream key, top-level system, max_tokens default), an
    OpenAI answer and chunk stream back with the usage chunk the client
    asked for and [DONE]."""
    _anthropic_only(env)
    key = env.add_user("bob")
    env.start_lighttpd()
    base = env.lighttpd_url
    hdrs = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    r = env.http(base + "/v1/chat/completions", method="POST", body=jbody(CHAT), headers=hdrs)
    assert r.status == 200, r.body
    j = r.json()
    assert j["object"] == "chat.completion", j
    assert j["choices"][0]["message"]["content"] == CANNED
    assert j["choices"][0]["finish_reason"] == "stop"
    # Anthropic's 10 + 3 + 4 input tokens, 20 output
    assert j["usage"]["prompt_tokens"] == 17 and j["usage"]["completion_tokens"] == 20, j
    rec = _posts(env)[-1]
    assert rec["path"] == "/v1/messages", rec["path"]
    up = json.loads(rec["body"])
    assert up["system"] == [{"type": "text", "text": "Be brief."}], up
    assert up["messages"] == [{"role": "user", "content": [{"type": "text", "text": "你好"}]}]
    assert up["max_tokens"] > 0
    assert header(rec, "x-api-key") == UPSTREAM_KEY and header(rec, "anthropic-version")

    r = env.http(base + "/v1/chat/completions", method="POST", headers=hdrs,
                 body=jbody(dict(CHAT, stream=True, stream_options={"include_usage": True})))
    assert r.status == 200, r.body
    evs = _events(r.body)
    assert evs[-1] == (None, "[DONE]"), evs
    chunks = [d for _, d in evs[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "词1词2词3", chunks
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 37, chunks[-1]
    assert _rows(env, 2) == [["chat", "openai", "1", "0", "200", "17", "20", "1", None],
                          ["chat", "openai", "1", "1", "200", "17", "20", "1", None]]


def test_xlate_tool_round_trip_both_ways(env):
    """A tool call and its result through the translation, streamed and
    not, in both directions (the mock plays a model that calls the tool
    once, then quotes its result)."""
    key = env.add_user("carol")
    env.start_lighttpd()
    base = env.lighttpd_url
    tools_a = [{"name": "get_weather", "description": "weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    tools_o = [{"type": "function", "function": {"name": "get_weather", "parameters":
                                                 tools_a[0]["input_schema"]}}]
    # Anthropic client, OpenAI upstream
    _openai_only(env)
    env.stop_lighttpd()
    env.start_lighttpd()
    base = env.lighttpd_url
    _default_mock(env, {"mode": "tools", "tool": {"name": "get_weather",
                                                  "arguments": {"city": "Paris"}}})
    hdrs = dict(ANTH_HDRS, **{"x-api-key": key})
    first = {"model": "gpt-test", "max_tokens": 100, "tools": tools_a,
             "messages": [{"role": "user", "content": "weather in Paris?"}]}
    for stream in (False, True):
        r = env.http(base + "/v1/messages", method="POST", headers=hdrs,
                     body=jbody(dict(first, stream=stream)))
        assert r.status == 200, r.body
        if stream:
            evs = _events(r.body)
            start = [d for n, d in evs if n == "content_block_start"][0]["content_block"]
            args = "".join(d["delta"]["partial_json"] for n, d in evs
                           if n == "content_block_delta")
            stop = [d for n, d in evs if n == "message_delta"][0]["delta"]["stop_reason"]
            block = dict(start, input=json.loads(args))
        else:
            block = r.json()["content"][0]
            stop = r.json()["stop_reason"]
        assert stop == "tool_use"
        assert block == {"type": "tool_use", "id": "call_mock1", "name": "get_weather",
                         "input": {"city": "Paris"}}, block
        second = dict(first, stream=stream, messages=first["messages"] + [
            {"role": "assistant", "content": [block]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_mock1",
                                          "content": "18C sunny"}]}])
        r = env.http(base + "/v1/messages", method="POST", headers=hdrs, body=jbody(second))
        assert r.status == 200, r.body
        if stream:
            text = "".join(d["delta"]["text"] for n, d in _events(r.body)
                           if n == "content_block_delta")
        else:
            text = r.json()["content"][0]["text"]
        assert text == "tool result: 18C sunny", r.body
        up = json.loads(_posts(env)[-1]["body"])
        assert up["messages"][-2]["tool_calls"][0]["function"] == {
            "name": "get_weather", "arguments": '{"city":"Paris"}'}, up
        assert up["messages"][-1] == {"role": "tool", "tool_call_id": "call_mock1",
                                      "content": "18C sunny"}, up
    # OpenAI client, Anthropic upstream
    env.reset_settings()
    _anthropic_only(env)
    env.stop_lighttpd()
    env.start_lighttpd()
    base = env.lighttpd_url
    hdrs = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    first = {"model": "claude-test", "tools": tools_o,
             "messages": [{"role": "user", "content": "weather in Paris?"}]}
    for stream in (False, True):
        r = env.http(base + "/v1/chat/completions", method="POST", headers=hdrs,
                     body=jbody(dict(first, stream=stream)))
        assert r.status == 200, r.body
        if stream:
            chunks = [d for _, d in _events(r.body)[:-1]]
            calls = [tc for c in chunks if c["choices"]
                     for tc in c["choices"][0]["delta"].get("tool_calls") or []]
            args = "".join(tc["function"]["arguments"] for tc in calls)
            call = {"id": calls[0]["id"], "type": "function",
                    "function": {"name": calls[0]["function"]["name"], "arguments": args}}
            fin = [c["choices"][0]["finish_reason"] for c in chunks
                   if c["choices"] and c["choices"][0]["finish_reason"]]
            assert fin == ["tool_calls"], chunks
        else:
            msg = r.json()["choices"][0]["message"]
            call = msg["tool_calls"][0]
            assert r.json()["choices"][0]["finish_reason"] == "tool_calls"
        assert call["id"] == "toolu_mock1" and call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
        second = dict(first, stream=stream, messages=first["messages"] + [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "toolu_mock1", "content": "18C sunny"}])
        r = env.http(base + "/v1/chat/completions", method="POST", headers=hdrs,
                     body=jbody(second))
        assert r.status == 200, r.body
        if stream:
            text = "".join(c["choices"][0]["delta"].get("content") or ""
                           for _, c in _events(r.body)[:-1] if c["choices"])
        else:
            text = r.json()["choices"][0]["message"]["content"]
        assert text == "tool result: 18C sunny", r.body
        up = json.loads(_posts(env)[-1]["body"])
        assert up["messages"][-1] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_mock1", "content": "18C sunny"}]}, up
    rows = _rows(env, 8)
    assert len(rows) == 8 and all(r[2] == "1" and r[4] == "200" and r[7] == "1"
                                   for r in rows), rows


def test_xlate_errors_and_refusals(env):
    """An upstream error comes back in the client's format with its status;
    a request that cannot be translated is refused with a 400 in the
    client's format, never sent upstream; both are logged once."""
    _openai_only(env)
    key = env.add_user("dave")
    env.start_lighttpd()
    base = env.lighttpd_url
    hdrs = dict(ANTH_HDRS, **{"x-api-key": key})
    _default_mock(env, {"status": 429})
    for stream in (False, True):
        r = env.http(base + "/v1/messages", method="POST", headers=hdrs,
                     body=jbody(dict(MSG, stream=stream)))
        assert r.status == 429, r.body
        j = r.json()
        assert j["type"] == "error" and j["error"]["type"] == "rate_limit_error", j
        if not stream:
            assert j["error"]["message"] == "mock error"
    _default_mock(env, {})
    n = len(_posts(env))
    doc = dict(MSG, messages=[{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": "JVBERi0="}}]}])
    r = env.http(base + "/v1/messages", method="POST", headers=hdrs, body=jbody(doc))
    assert r.status == 400, r.body
    j = r.json()
    assert j["type"] == "error" and "document" in j["error"]["message"], j
    assert len(_posts(env)) == n
    rows = _rows(env, 3)
    assert sorted(r[4] for r in rows) == ["400", "429", "429"], rows
    refused = [r for r in rows if r[4] == "400"][0]
    assert refused[2] == "0" and refused[8] == "request cannot be translated", rows
    # the other way: n > 1 has no Anthropic equivalent
    env.reset_settings()
    _anthropic_only(env)
    env.stop_lighttpd()
    env.start_lighttpd()
    r = env.http(env.lighttpd_url + "/v1/chat/completions", method="POST",
                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
                 body=jbody(dict(CHAT, n=2)))
    assert r.status == 400, r.body
    assert "n > 1" in r.json()["error"]["message"], r.body
    assert len(_posts(env)) == n


def test_xlate_passthrough_stays_byte_exact(env):
    """With both formats configured nothing is translated: the same bytes
    go upstream and the row says translated = 0."""
    key = env.add_user("erin")
    env.start_lighttpd()
    body = jbody(MSG)
    r = env.http(env.lighttpd_url + "/v1/messages", method="POST", body=body,
                 headers=dict(ANTH_HDRS, **{"x-api-key": key}))
    assert r.status == 200, r.body
    assert _posts(env)[-1]["body"] == body
    assert _rows(env, 1)[0][:3] == ["messages", "anthropic", "0"]


def test_xlate_translate_off(env):
    """translate = false: a route without its format's upstream is not
    served: 400 UNSUPPORTED_ENDPOINT (issue 28; a 500 before)."""
    _openai_only(env)
    env.settings["RELAY_TRANSLATE"] = "false"
    key = env.add_user("frank")
    env.start_lighttpd()
    r = env.http(env.lighttpd_url + "/v1/messages", method="POST", body=jbody(MSG),
                 headers=dict(ANTH_HDRS, **{"x-api-key": key}))
    assert r.status == 400 and "anthropic_url" in r.json()["error"]["message"], r.body
    assert "UNSUPPORTED_ENDPOINT" in r.json()["error"]["message"], r.body
    assert _posts(env) == []


# ---------------------------------------------------------------- real clients

def test_xlate_sdks(env):
    """@anthropic-ai/sdk (create, stream, the finalMessage helper) against
    an OpenAI-only upstream; the openai SDK (chat, stream) against an
    Anthropic-only one. Through lighttpd and Apache."""
    node_modules()
    key = env.add_user("sdk")
    _openai_only(env)
    env.start_lighttpd()
    env.start_apache()
    for base in (env.lighttpd_url, env.apache_url + "/api/call.php"):
        op = {"sdk": "anthropic", "base": base, "key": key}
        p = dict(MSG)
        r_msg, r_stream, r_helper = sdk(env, [dict(op, op="messages", params=p),
                                              dict(op, op="messages_stream", params=p),
                                              dict(op, op="messages_helper", params=p)])
        assert r_msg["ok"], r_msg
        assert r_msg["data"]["content"][0]["text"] == CANNED
        assert r_msg["data"]["usage"]["output_tokens"] == 22
        assert r_stream["ok"], r_stream
        types = [e["type"] for e in r_stream["data"]]
        assert types[0] == "message_start" and types[-1] == "message_stop", types
        assert r_helper["ok"], r_helper
        assert r_helper["data"]["content"][0]["text"] == "词1词2词3", r_helper
        assert r_helper["data"]["stop_reason"] == "end_turn"
        assert r_helper["data"]["usage"]["output_tokens"] == 22, r_helper["data"]
    env.stop_lighttpd()
    env.stop_apache()
    env.reset_settings()
    _anthropic_only(env)
    env.start_lighttpd()
    env.start_apache()
    for base in (env.lighttpd_url + "/v1", env.apache_url + "/api/call.php/v1"):
        op = {"sdk": "openai", "base": base, "key": key}
        r_chat, r_stream = sdk(env, [dict(op, op="chat", params=CHAT),
                                     dict(op, op="chat_stream", params=CHAT)])
        assert r_chat["ok"], r_chat
        assert r_chat["data"]["choices"][0]["message"]["content"] == CANNED
        assert r_chat["data"]["usage"]["total_tokens"] == 37
        assert r_stream["ok"], r_stream
        chunks = r_stream["data"]
        text = "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in chunks if c["choices"])
        assert text == "词1词2词3", chunks
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 37
    rows = _rows(env, 10)
    assert len(rows) == 10 and all(r[2] == "1" and r[4] == "200" for r in rows), rows
test_xlate_sdks.timeout = 240


def test_xlate_claude_code_tool_round_trip(env):
    """claude -p against an OpenAI-only upstream: the model (mock) asks for
    the Read tool on a file, Claude Code runs it and sends the result back,
    and the final answer quotes it. Every call was translated and
    metered."""
    node_modules()
    key = env.add_user("cc")
    _openai_only(env)
    env.start_lighttpd()
    path = os.path.join(env.tmp, "note.txt")
    with open(path, "w") as f:
        f.write("the secret word is plum\n")
    _default_mock(env, {"mode": "tools", "tool": {"name": "Read",
                                                  "arguments": {"file_path": path}}})
    r = subprocess.run(_claude_argv("read note.txt and tell me the secret word"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=150, env=_claude_env(env, env.lighttpd_url,
                                                    "ANTHROPIC_API_KEY", key),
                       cwd=env.tmp)
    assert r.returncode == 0, "claude exit %s: %s %s" % (r.returncode, r.stdout[-1500:],
                                                          r.stderr[-1500:])
    j = json.loads(r.stdout)
    assert j["is_error"] is False, j
    assert j["result"].startswith("tool result: ") and "plum" in j["result"], j
    recs = [x for x in _posts(env) if x["path"] == "/v1/chat/completions"]
    assert len(recs) >= 2, [x["path"] for x in _posts(env)]
    bodies = [json.loads(x["body"]) for x in recs]
    assert all(b["model"] == "mock-claude" for b in bodies)
    last = bodies[-1]["messages"]
    assert last[-1]["role"] == "tool" and "plum" in last[-1]["content"], last[-2:]
    assert any(m.get("tool_calls") for m in last), last
    assert all(header(x, "authorization") == "Bearer " + UPSTREAM_KEY for x in recs)
    rows = [x for x in _rows(env, len(recs)) if x[0] == "messages"]
    assert rows and all(x[2] == "1" and x[4] == "200" and x[7] == "1" for x in rows), rows
test_xlate_claude_code_tool_round_trip.timeout = 240


def test_xlate_upstream_dies_mid_stream(env):
    """The upstream hangs up after two events: the client has the events
    translated so far, then an error event in its own format (never half an
    event); the row carries the reason, with the usage seen."""
    _openai_only(env)
    key = env.add_user("gina")
    env.start_lighttpd()
    _default_mock(env, {"mode": "stream", "close_after": 2, "usage_style": "cumulative"})
    r = env.http(env.lighttpd_url + "/v1/messages", method="POST",
                 body=jbody(dict(MSG, stream=True)),
                 headers=dict(ANTH_HDRS, **{"x-api-key": key}))
    assert r.status == 200, r.body
    evs = _events(r.body)
    names = [n for n, _ in evs]
    assert names[:2] == ["message_start", "content_block_start"], names
    assert names[-1] == "error" and "message_stop" not in names, names
    err = evs[-1][1]
    assert err["type"] == "error" and err["error"]["type"] == "api_error", err
    assert r.body.endswith(b"\n\n")
    rows = _rows(env, 1)
    assert len(rows) == 1 and rows[0][2] == "1" and rows[0][8], rows


def test_xlate_stream_request_answered_with_one_body(env):
    """An upstream that ignores stream: true and sends one JSON body: the
    client still gets the event stream it asked for, metered."""
    _openai_only(env)
    key = env.add_user("hank")
    env.start_lighttpd()
    _default_mock(env, {"mode": "json"})
    r = env.http(env.lighttpd_url + "/v1/messages", method="POST",
                 body=jbody(dict(MSG, stream=True)),
                 headers=dict(ANTH_HDRS, **{"x-api-key": key}))
    assert r.status == 200, r.body
    assert r.headers["content-type"].startswith("text/event-stream"), r.headers
    evs = _events(r.body)
    assert [n for n, _ in evs] == ["message_start", "content_block_start",
                                   "content_block_delta", "content_block_stop",
                                   "message_delta", "message_stop"], evs
    assert evs[2][1]["delta"]["text"] == CANNED
    assert _rows(env, 1) == [["messages", "anthropic", "1", "1", "200", "11", "22", "1", None]]


def test_xlate_on_table_backends_by_mode(env):
    """On the backend pool: /v1/messages for a model that only OpenAI-format
    backends serve is translated onto the one whose mode is 'translate'
    (its own key, its model mapping applied to the translated body); a
    pass-mode backend never takes translated traffic (a configuration
    error when it is the only one)."""
    env.settings["RELAY_OPENAI_URL"] = None
    env.settings["RELAY_OPENAI_BASE_URL"] = None
    env.settings["RELAY_ANTHROPIC_URL"] = None
    env.settings["RELAY_ANTHROPIC_BASE_URL"] = None
    up = env.start_extra_mock("xl-openai")
    key = env.add_user("carol")
    env.start_lighttpd()
    base = env.lighttpd_url
    hdrs = dict(ANTH_HDRS, **{"x-api-key": key})
    r = env.relayctl("backend", "add", "oa", "--format", "openai", "--url", up + "/v1",
                     "--models", "claude-*", "--map", "claude-*=gpt-mapped", "--key", "-",
                     input="sk-oa-upstream-key\n")
    assert r.returncode == 0, r.stderr
    env.http(up + "/__default_mock", method="POST", body=b"{}", timeout=10)
    body = dict(MSG, model="claude-sonnet-4")
    r = env.http(base + "/v1/messages", method="POST", body=jbody(body), headers=hdrs)
    # pass mode: no translation, and nothing speaks Anthropic here
    assert r.status == 400 and b"UNSUPPORTED_ENDPOINT" in r.body, r.body
    assert env.relayctl("backend", "set", "oa", "--mode", "translate").returncode == 0
    time.sleep(2.5)   # a process looks for a changed table at most every 2 s
    r = env.http(base + "/v1/messages", method="POST", body=jbody(body), headers=hdrs)
    assert r.status == 200, r.body
    assert r.json()["type"] == "message" and r.json()["content"][0]["type"] == "text", r.json()
    recs = [x for x in env.mock_requests_at(up) if x["method"] == "POST"]
    assert recs[-1]["path"] == "/v1/chat/completions", recs[-1]["path"]
    sent = json.loads(recs[-1]["body"])
    assert sent["model"] == "gpt-mapped" and sent["messages"][0] == \
        {"role": "system", "content": "Be brief."}, sent
    assert header(recs[-1], "authorization") == "Bearer sk-oa-upstream-key"
    wait_until(lambda: int(env.sql_value("SELECT COUNT(*) FROM request_log")) >= 2,
               timeout=30 * env.timeout_factor, what="2 rows")
    assert env.sql("SELECT http_status, translated, backend FROM request_log ORDER BY id") == \
        [["400", "0", None], ["200", "1", "oa"]]
