"""POST /v1/responses on a chat-only backend (issue 26): translated to
/chat/completions and back when the backend serving the model does not
serve /responses itself (backends.responses = 'no', or the `responses`
setting for the default backend), passed through byte for byte when it
does. Plain HTTP through lighttpd (shapes, stream events, tool round trip,
refusals, request_log), then the real openai SDK's responses.create
(plain, streamed, with a function tool) through lighttpd and Apache.

The mock's behaviour comes from POST /__default_mock: translation drops
unknown members such as the body's "mock"."""
import json

from common import jbody, wait_until
from test_backends import _add
from test_sdk import combos, sdk
from test_xlate import CANNED, _default_mock, _events, _posts, _rows

TOOL = {"type": "function", "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}


def _hdrs(key):
    return {"Authorization": "Bearer " + key, "Content-Type": "application/json"}


def _chat_only_default(env):
    env.settings["RELAY_RESPONSES"] = "no"


def test_responses_translated_on_chat_only_default(env):
    """The default backend marked chat-only: the upstream gets a Chat
    request on /chat/completions (instructions as the system message,
    include_usage for a stream), the client a Responses object and event
    stream with the upstream's usage; one log row per request, translated."""
    _chat_only_default(env)
    key = env.add_user("alice")
    env.start_lighttpd()
    base = env.lighttpd_url
    body = {"model": "glm-test", "instructions": "Be brief.", "input": "你好",
            "max_output_tokens": 64, "store": False}
    r = env.http(base + "/v1/responses", method="POST", body=jbody(body), headers=_hdrs(key))
    assert r.status == 200, r.body
    j = r.json()
    assert j["object"] == "response" and j["status"] == "completed", j
    assert j["output"][0]["type"] == "message", j
    assert j["output"][0]["content"][0] == {"type": "output_text", "text": CANNED,
                                            "annotations": []}, j
    assert j["usage"]["input_tokens"] == 11 and j["usage"]["output_tokens"] == 22, j
    rec = _posts(env)[-1]
    assert rec["path"] == "/v1/chat/completions", rec["path"]
    up = json.loads(rec["body"])
    assert up["messages"] == [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "你好"}], up
    assert up["max_tokens"] == 64 and "input" not in up and "store" not in up, up

    r = env.http(base + "/v1/responses", method="POST", body=jbody(dict(body, stream=True)),
                 headers=_hdrs(key))
    assert r.status == 200, r.body
    assert r.headers["content-type"].startswith("text/event-stream")
    evs = _events(r.body)
    names = [n for n, _ in evs]
    assert names[:2] == ["response.created", "response.in_progress"], names
    assert names[-1] == "response.completed", names
    assert [d["sequence_number"] for _, d in evs] == list(range(len(evs))), evs
    text = "".join(d["delta"] for n, d in evs if n == "response.output_text.delta")
    assert text == "词1词2词3", evs
    done = evs[-1][1]["response"]
    assert done["output"][0]["content"][0]["text"] == text, done
    assert done["usage"]["input_tokens"] == 11 and done["usage"]["output_tokens"] == 22, done
    up = json.loads(_posts(env)[-1]["body"])
    assert up["stream"] is True and up["stream_options"] == {"include_usage": True}, up
    assert _rows(env, 2) == [["responses", "openai", "1", "0", "200", "11", "22", "1", None],
                             ["responses", "openai", "1", "1", "200", "11", "22", "1", None]]


def test_responses_tool_round_trip_translated(env):
    """A function tool on a chat-only backend: the model's call comes back
    as a function_call item (call_id, JSON arguments), streamed too; the
    function_call_output turn goes upstream as a tool message."""
    _chat_only_default(env)
    _default_mock(env, {"mode": "tools", "tool": {"name": "get_weather",
                                                  "arguments": {"city": "Paris"}}})
    key = env.add_user("tom")
    env.start_lighttpd()
    base = env.lighttpd_url
    body = {"model": "kimi-test", "input": "Weather in Paris?", "tools": [TOOL]}
    r = env.http(base + "/v1/responses", method="POST", body=jbody(body), headers=_hdrs(key))
    assert r.status == 200, r.body
    calls = [o for o in r.json()["output"] if o["type"] == "function_call"]
    assert len(calls) == 1 and calls[0]["name"] == "get_weather", r.json()
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}, calls
    up = json.loads(_posts(env)[-1]["body"])
    assert up["tools"] == [{"type": "function", "function": {
        k: TOOL[k] for k in ("name", "description", "parameters")}}], up

    r = env.http(base + "/v1/responses", method="POST", body=jbody(dict(body, stream=True)),
                 headers=_hdrs(key))
    evs = _events(r.body)
    names = [n for n, _ in evs]
    assert "response.function_call_arguments.delta" in names, names
    item = [d["item"] for n, d in evs if n == "response.output_item.done"][-1]
    assert item["type"] == "function_call" and json.loads(item["arguments"]) == {"city": "Paris"}

    turn2 = dict(body, input=[{"role": "user", "content": "Weather in Paris?"},
                              {"type": "function_call", "call_id": item["call_id"],
                               "name": "get_weather", "arguments": item["arguments"]},
                              {"type": "function_call_output", "call_id": item["call_id"],
                               "output": "sunny, 21C"}])
    r = env.http(base + "/v1/responses", method="POST", body=jbody(turn2), headers=_hdrs(key))
    assert r.status == 200, r.body
    msg = [o for o in r.json()["output"] if o["type"] == "message"]
    assert msg and msg[0]["content"][0]["text"] == "tool result: sunny, 21C", r.json()
    up = json.loads(_posts(env)[-1]["body"])
    assert up["messages"][-1] == {"role": "tool", "tool_call_id": item["call_id"],
                                  "content": "sunny, 21C"}, up
    assert up["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather", up


def test_responses_builtin_tool_refused(env):
    """A built-in tool a chat backend cannot run: 400 in OpenAI's error
    shape naming it, nothing sent upstream, one log row."""
    _chat_only_default(env)
    key = env.add_user("bea")
    env.start_lighttpd()
    body = {"model": "glm-test", "input": "news?", "tools": [{"type": "web_search"}, TOOL]}
    r = env.http(env.lighttpd_url + "/v1/responses", method="POST", body=jbody(body),
                 headers=_hdrs(key))
    assert r.status == 400, r.body
    err = r.json()["error"]
    assert "web_search" in err["message"] and err["code"] == "untranslatable_request", err
    assert not _posts(env)
    rows = _rows(env, 1)
    assert len(rows) == 1 and rows[0][4] == "400", rows


def test_responses_per_backend_flag(env):
    """A table backend: --responses no translates, set to yes passes the
    client's bytes through to /responses; relayctl backend list shows it."""
    env.settings["RELAY_OPENAI_URL"] = None
    env.settings["RELAY_ANTHROPIC_URL"] = None
    e = env.relay_env()
    _add(env, "kimi", "--format", "openai", "--url", env.mock_url + "/v1",
         "--responses", "no", key="sk-up", e=e)
    lst = env.relayctl("backend", "list", env=e).stdout.splitlines()
    head = lst[0].split()
    row = [ln.split() for ln in lst if " kimi " in ln][0]
    assert row[head.index("RESP")] == "no", lst
    key = env.add_user("carl")
    env.start_lighttpd()
    body = jbody({"model": "m1", "input": "hi"})
    r = env.http(env.lighttpd_url + "/v1/responses", method="POST", body=body,
                 headers=_hdrs(key))
    assert r.status == 200 and r.json()["object"] == "response", r.body
    assert _posts(env)[-1]["path"] == "/v1/chat/completions"
    r = env.relayctl("backend", "set", "kimi", "--responses", "yes", env=e)
    assert r.returncode == 0, r.stderr
    assert env.relayctl("backend", "set", "kimi", "--responses", "maybe",
                        env=e).returncode == 2

    def passed_through():
        # a process re-reads the table when backend_gen moved (within 2 s)
        env.http(env.lighttpd_url + "/v1/responses", method="POST", body=body,
                 headers=_hdrs(key))
        return _posts(env)[-1]["path"] == "/v1/responses"
    wait_until(passed_through, timeout=30, what="the backend copy to reload")
    assert _posts(env)[-1]["body"] == body


def test_responses_sdk_on_chat_only_backend(env):
    """The openai SDK's responses.create against a chat-only backend,
    through lighttpd and Apache: plain (output_text), streamed (its event
    parser accepts every event), and a function tool call."""
    _chat_only_default(env)
    key = env.add_user("sdk")
    for base, prefix in combos(env)[::3]:
        _default_mock(env, {})
        op = {"sdk": "openai", "base": base + prefix + "/v1", "key": key}
        plain, streamed = sdk(env, [
            dict(op, op="responses", params={"model": "glm-test", "input": "你好"}),
            dict(op, op="responses_stream", params={"model": "glm-test", "input": "你好"})])
        assert plain["ok"] and plain["data"]["output_text"] == CANNED, plain
        assert streamed["ok"], streamed
        types = [ev["type"] for ev in streamed["data"]]
        assert types[0] == "response.created" and types[-1] == "response.completed", types
        assert streamed["data"][-1]["response"]["output"][0]["content"][0]["text"] == "词1词2词3"
        _default_mock(env, {"mode": "tools", "tool": {"name": "get_weather",
                                                      "arguments": {"city": "Oslo"}}})
        tool, tool_s = sdk(env, [
            dict(op, op="responses", params={"model": "glm-test", "input": "Oslo?",
                                             "tools": [TOOL]}),
            dict(op, op="responses_stream", params={"model": "glm-test", "input": "Oslo?",
                                                    "tools": [TOOL]})])
        assert tool["ok"], tool
        call = [o for o in tool["data"]["output"] if o["type"] == "function_call"][0]
        assert json.loads(call["arguments"]) == {"city": "Oslo"}, tool
        assert tool_s["ok"], tool_s
        done = [ev for ev in tool_s["data"]
                if ev["type"] == "response.function_call_arguments.done"]
        assert done and json.loads(done[0]["arguments"]) == {"city": "Oslo"}, tool_s


def test_v1_upstream_timeout_is_504(env):
    """An upstream that sends nothing within request_timeout: 504
    gateway_timeout on the /v1 routes (call.php keeps its 502, test_call)."""
    key = env.add_user("tim")
    e = env.relay_env(RELAY_REQUEST_TIMEOUT="2", PATH_INFO="/v1/chat/completions")
    r = env.cgi("v1", method="POST", env=e, headers=_hdrs(key),
                body=jbody({"model": "gpt-test", "mock": {"stall": 8},
                            "messages": [{"role": "user", "content": "hi"}]}))
    assert r.status == 504, (r.status, r.body)
    err = r.json()["error"]
    assert err["code"] == "gateway_timeout" and "timed out" in err["message"], err
    assert _rows(env, 1)[0][4] == "504"


def test_models_list_and_retrieve(env):
    """GET /v1/models lists what the table backends serve (configured
    names, globs and mapping patterns as configured) and the key's
    allow-listed names a backend takes; GET /v1/models/{id} answers one or
    404, through lighttpd and Apache; free (no log row). Before: [] for
    table backends and for a key with an allow-list, and no
    /v1/models/{id} route (404 no route)."""
    env.settings["RELAY_OPENAI_URL"] = None
    env.settings["RELAY_ANTHROPIC_URL"] = None
    e = env.relay_env()
    _add(env, "glm", "--format", "openai", "--url", env.mock_url + "/v1",
         "--models", "glm-4.7,glm-5*", key="sk-up", e=e)
    _add(env, "mm", "--format", "anthropic", "--url", env.mock_url,
         "--models", "claude-*", "--map", "claude-*=MiniMax-M2", key="sk-up", e=e)
    _add(env, "kimi", "--format", "openai", "--url", env.mock_url + "/v1",
         "--models", "kimi2.5", key="sk-up", e=e)
    k_all = env.add_user("all")
    k_lim = env.add_user("lim", models="glm-4.7,kimi2.5,nobody-serves")
    for base, _ in combos(env)[::2]:
        def get(path, key, **h):
            return env.http(base + path, headers=dict({"Authorization": "Bearer " + key}, **h))
        r = get("/v1/models", k_all)
        assert r.status == 200, r.body
        ids = sorted(m["id"] for m in r.json()["data"])
        assert ids == ["claude-*", "glm-4.7", "glm-5*", "kimi2.5"], ids
        ids = sorted(m["id"] for m in get("/v1/models", k_lim).json()["data"])
        assert ids == ["glm-4.7", "kimi2.5"], ids
        j = get("/v1/models", k_lim, **{"anthropic-version": "2023-06-01"}).json()
        assert j["data"][0]["type"] == "model" and j["has_more"] is False, j
        r = get("/v1/models/kimi2.5", k_lim)
        assert r.status == 200 and r.json()["id"] == "kimi2.5", r.body
        assert r.json()["object"] == "model", r.json()
        r = get("/v1/models/claude-sonnet-4-5", k_all)       # served by the mapping glob
        assert r.status == 200 and r.json()["id"] == "claude-sonnet-4-5", r.body
        for path, key in (("/v1/models/claude-sonnet-4-5", k_lim),   # not allowed
                          ("/v1/models/nobody-serves", k_lim),       # allowed, not served
                          ("/v1/models/gpt-9", k_all)):
            r = get(path, key)
            assert r.status == 404 and r.json()["error"]["code"] == "model_not_found", r.body
        r = get("/v1/models/kimi2.5", k_lim, **{"anthropic-version": "2023-06-01"})
        assert r.status == 200 and r.json()["type"] == "model", r.body
        r = env.http(base + "/v1/models/kimi2.5", method="POST", body=b"{}",
                     headers={"Authorization": "Bearer " + k_lim})
        assert r.status == 405, r.body
        assert get("/v1/models/kimi2.5", "sk-bad").status == 401
        # the openai SDK's models.list / models.retrieve
        op = {"sdk": "openai", "base": base + "/v1", "key": k_lim}
        lst, one, missing = sdk(env, [dict(op, op="models"),
                                      dict(op, op="models_retrieve", params={"id": "glm-4.7"}),
                                      dict(op, op="models_retrieve", params={"id": "gpt-9"})])
        assert lst["ok"] and sorted(lst["data"]) == ["glm-4.7", "kimi2.5"], lst
        assert one["ok"] and one["data"]["id"] == "glm-4.7", one
        assert not missing["ok"] and missing["status"] == 404, missing
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "0"


def test_responses_auto_backend_learns_chat_only(env):
    """A backend whose /responses support is unknown ('auto', the default
    of a custom endpoint): its 404 on /responses never reaches the client;
    the same try goes again translated (one log row), and the backend is
    recorded as responses = no, so later requests go straight to
    /chat/completions. Before: the upstream's 404 passed on as if the
    model were missing."""
    env.settings["RELAY_OPENAI_URL"] = None
    env.settings["RELAY_ANTHROPIC_URL"] = None
    e = env.relay_env()
    _add(env, "chatonly", "--format", "openai", "--url", env.mock_url + "/v1", key="sk-up", e=e)
    # a second backend, so status.php lists the pool
    _add(env, "claude", "--format", "anthropic", "--url", env.mock_url, key="sk-up", e=e)
    key = env.add_user("lea")
    env.start_lighttpd()
    missing = {"status": 404, "body": {"error": {"message": "The model `m1` does not exist",
                                                 "type": "invalid_request_error",
                                                 "code": "model_not_found"}}}
    r = env.http(env.lighttpd_url + "/v1/responses", method="POST", headers=_hdrs(key),
                 body=jbody({"model": "m1", "input": "hi", "mock": missing}))
    assert r.status == 200, r.body
    assert r.json()["object"] == "response" and r.json()["status"] == "completed", r.body
    assert [p["path"] for p in _posts(env)] == ["/v1/responses", "/v1/chat/completions"]
    rows = _rows(env, 1)
    assert rows == [["responses", "openai", "1", "0", "200", "11", "22", "1", None]], rows
    lst = env.relayctl("backend", "list", env=e).stdout.splitlines()
    head = lst[0].split()
    row = [ln.split() for ln in lst if " chatonly " in ln][0]
    assert row[head.index("RESP")] == "no", lst
    bks = {b["name"]: b for b in env.cgi("status", env=e).json()["checks"]["backends"]}
    assert bks["chatonly"]["responses"] == "no" and "responses" not in bks["claude"], bks
    r = env.http(env.lighttpd_url + "/v1/responses", method="POST", headers=_hdrs(key),
                 body=jbody({"model": "m1", "input": "hi", "stream": True, "mock": missing}))
    assert r.status == 200 and _events(r.body)[-1][0] == "response.completed", r.body
    assert _posts(env)[-1]["path"] == "/v1/chat/completions"
    assert len(_posts(env)) == 3


def _codex(env, base, key, prompt, home):
    """`codex exec` with a custom provider (wire_api = "responses") at the
    relay; (returncode, stdout, stderr)."""
    import os
    import subprocess
    from test_sdk import client_env, node_modules
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "config.toml"), "w") as f:
        # web_search is a hosted tool a chat backend cannot run (refused
        # with a 400 naming it): off here, as an operator would tell users
        f.write('model = "glm-test"\nmodel_provider = "relay"\nweb_search = "disabled"\n'
                'check_for_update_on_startup = false\n'
                '[model_providers.relay]\nname = "relay"\nbase_url = "%s/v1"\n'
                'env_key = "LLM_RELAY_KEY"\nwire_api = "responses"\n'
                'request_max_retries = 0\nstream_max_retries = 0\n' % base)
    work = os.path.join(home, "work")
    os.makedirs(work, exist_ok=True)
    argv = [os.path.join(node_modules(), ".bin", "codex"), "exec", "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox", prompt]
    r = subprocess.run(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=180,
                       env=client_env(home, CODEX_HOME=home, LLM_RELAY_KEY=key))
    return r.returncode, r.stdout, r.stderr


def test_responses_codex_on_chat_only_backend(env):
    """OpenAI Codex CLI (npm @openai/codex, speaks only the Responses API,
    always streams) against a chat-only backend through lighttpd and
    Apache: a plain turn, then one shell-tool round trip (the mock model
    calls Codex's shell tool, Codex runs it and sends the output back).
    Before: 404 from the backend's /responses, retried 5 times (6 rows)."""
    import os
    _chat_only_default(env)
    key = env.add_user("codex")
    for i, (base, _) in enumerate(combos(env)[::2]):
        _default_mock(env, {})
        n0 = len(_posts(env))
        rc, out, err = _codex(env, base, key, "Say hello", os.path.join(env.tmp, "cx%d" % i))
        assert rc == 0, (rc, out[-2000:], err[-3000:])
        assert "词1词2词3" in out, (out[-2000:], err[-2000:])   # the streamed answer
        recs = _posts(env)[n0:]
        assert recs and all(r["path"] == "/v1/chat/completions" for r in recs), recs
        up = json.loads(recs[-1]["body"])
        assert up["stream"] is True and up["messages"][-1]["role"] == "user", up
        names = [t["function"]["name"] for t in up.get("tools", [])]
        shell = "exec_command" if "exec_command" in names else "shell"
        assert shell in names, names
        args = {"cmd": "echo relay-ok"} if shell == "exec_command" else \
            {"command": ["echo", "relay-ok"]}
        _default_mock(env, {"mode": "tools", "tool": {"name": shell, "arguments": args}})
        n0 = len(_posts(env))
        rc, out, err = _codex(env, base, key, "Run echo", os.path.join(env.tmp, "cy%d" % i))
        assert rc == 0, (rc, out[-2000:], err[-3000:])
        recs = _posts(env)[n0:]
        assert len(recs) >= 2, recs
        last = json.loads(recs[-1]["body"])["messages"]
        tool_msgs = [m for m in last if m.get("role") == "tool"]
        assert tool_msgs and "relay-ok" in json.dumps(tool_msgs), last
        assert "tool result:" in out, (out[-2000:], err[-2000:])
    rows = env.sql("SELECT route, translated, http_status FROM request_log")
    assert rows and all(r == ["responses", "1", "200"] for r in rows), rows
