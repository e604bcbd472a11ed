"""End to end through the real web servers (issue 5): Apache + mod_fcgid and
lighttpd with the shipped configs."""
import json
import os
import socket
import subprocess
import time

from common import (ANTHROPIC_REQ, assert_error, call, jbody, last_log, queue_status, req,
                    sse_events, usage, wait_until)

SERVERS = ("lighttpd", "apache")


def _base(env, server):
    port = env.start_lighttpd() if server == "lighttpd" else env.start_apache()
    return "http://127.0.0.1:%d" % port


def _slot_free(env):
    return env.sql_value("SELECT IS_FREE_LOCK('%s:slot:1')" % env.lock_prefix) == "1"


def test_non_stream_both_formats_byte_identical(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    raw = ('{"model":"gpt-test","messages":[{"role":"user","content":"你好 😀 \\"x\\""}],'
           '"mock":{"mode":"echo"}}').encode()
    for server in SERVERS:
        base = _base(env, server)
        env.mock_reset()
        r = call(env, raw, key, via=base)
        assert r.status == 200 and r.body == raw, (server, r.status, r.body[:200])
        assert env.mock_requests()[0]["body"] == raw
        r = call(env, ANTHROPIC_REQ, key, via=base)
        assert r.status == 200 and r.json()["type"] == "message", server
        assert env.mock_requests()[-1]["path"] == "/v1/messages"
        assert_error(call(env, req(), "sk-wrong", via=base), 401)
        assert_error(call(env, b"{", key, via=base), 400)
        r = env.http(base + "/api/status.php")
        assert r.status == 200 and r.json()["status"] == "healthy", (server, r.body)
        assert_error(env.http(base + "/api/call.php"), 405)


def test_sse_is_not_buffered_by_the_server(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    for server in SERVERS:
        base = _base(env, server)
        env.mock_reset()
        r = call(env, req(stream=True, mock={"mode": "stream", "n": 3, "delay": 0.4,
                                             "record_send_times": True}), key, via=base, stream=True)
        assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream"), server
        sent = env.mock_requests()[0]["send_times"]
        off = time.time() - time.monotonic()
        arrivals = [t + off for t, c in r.chunks if c.strip()]
        # the first event is at the client before the upstream sent the last
        assert arrivals and arrivals[0] < sent[-1], (server, arrivals[:3], sent)
        data = b"".join(c for _, c in r.chunks)
        assert sse_events(data)[-1] == "data: [DONE]", server
        log = last_log(env)
        assert (log["prompt_tokens"], log["completion_tokens"]) == ("11", "22"), (server, log)


def test_queued_flow_end_to_end(env):
    key = env.add_user("alice", daily_requests=0)
    for server in SERVERS:
        base = _base(env, server)
        env.mock_reset()
        import threading
        box = {}
        # the holder must still hold the slot when the second call is admitted;
        # under valgrind a second FastCGI process can take seconds to start
        stall = 12 if env.valgrind else 2
        t = threading.Thread(target=lambda: box.setdefault(
            "r", call(env, req(mock={"stall": stall}), key, via=base, timeout=stall + 30)))
        t.start()
        wait_until(lambda: env.mock_requests(), what="slot holder upstream")
        r = call(env, req(), key, via=base)
        assert r.status == 202, (server, r.status, r.body)
        qid = r.json()["queue_id"]
        j = queue_status(env, qid, key, via=base).json()
        assert j["status"] == "waiting" and j["position"] == 1, j
        t.join()
        assert box["r"].status == 200
        env.queue_worker("--once")
        j = queue_status(env, qid, key, via=base).json()
        assert j["status"] == "completed" and j["response"]["usage"]["total_tokens"] == 33, j
        assert_error(queue_status(env, qid, None, via=base), 401)


def test_seed_examples_work_as_written(env):
    key = env.add_user("alice")
    base = _base(env, "lighttpd")
    url = base + "/api/call.php"
    body = '{\n    "model": "MiniMax-M2.7",\n    "messages": [\n      {"role": "user", "content": "Hello!"}\n    ]\n  }'
    r = subprocess.run(["curl", "-sS", "-X", "POST", url, "-H", "Content-Type: application/json",
                        "-H", "X-API-Key: " + key, "-d", body], capture_output=True, timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["choices"], r
    py = ('import requests\n\nurl = "%s"\nheaders = {\n    "Content-Type": "application/json",\n'
          '    "X-API-Key": "%s"\n}\ndata = {\n    "model": "MiniMax-M2.7",\n    "messages": [\n'
          '        {"role": "user", "content": "Hello!"}\n    ]\n}\n\n'
          'response = requests.post(url, headers=headers, json=data)\nprint(response.json())\n') % (url, key)
    r = subprocess.run(["/usr/bin/python3", "-c", py], capture_output=True, timeout=30, text=True)
    assert r.returncode == 0 and "chat.completion" in r.stdout, (r.stdout, r.stderr)
    js = ("const response = await fetch('%s', {\n  method: 'POST',\n  headers: {\n"
          "    'Content-Type': 'application/json',\n    'X-API-Key': '%s'\n  },\n"
          "  body: JSON.stringify({\n    model: 'MiniMax-M2.7',\n    messages: [\n"
          "      {role: 'user', content: 'Hello!'}\n    ]\n  })\n});\n\n"
          "const data = await response.json();\nconsole.log(data);\n") % (url, key)
    r = subprocess.run(["node", "--input-type=module", "-e", js], capture_output=True, timeout=30, text=True)
    assert r.returncode == 0 and "chat.completion" in r.stdout, (r.stdout, r.stderr)
    assert usage(env, "alice")[0] == 3


def test_big_body_and_disconnect_leave_nothing_stuck(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    for server in SERVERS:
        base = _base(env, server)
        env.mock_reset()
        big = jbody(req(mock={"mode": "echo"}, pad="x" * (5 * 1024 * 1024)))
        r = call(env, big, key, via=base, timeout=120)
        assert r.status == 200 and r.body == big, (server, r.status, len(r.body))
        # a streaming client that hangs up after the first bytes
        body = jbody(req(stream=True, mock={"mode": "stream", "n": 300, "delay": 0.02}))
        port = int(base.rsplit(":", 1)[1])
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /api/call.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"X-API-Key: " + key.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                  b"\r\nConnection: close\r\n\r\n" + body)
        got = s.recv(2000)
        assert b"200" in got.split(b"\r\n", 1)[0], got[:100]
        s.close()
        # the relay notices, stops reading upstream, releases the slot, logs it
        wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log WHERE error = 'client disconnected'")
                   == "1" if server == "lighttpd" else
                   env.sql_value("SELECT COUNT(*) FROM request_log WHERE error = 'client disconnected'") == "2",
                   timeout=30, what="%s: the disconnect to be logged" % server)
        wait_until(lambda: _slot_free(env), timeout=10, what="the slot to be released")
        assert call(env, req(), key, via=base).status == 200


def test_docs_page_through_both_servers(env):
    key = env.add_user("alice")
    # a user-controlled value that could reach the page: the Host header
    for server in SERVERS:
        base = _base(env, server)
        for path in ("/api/", "/"):
            r = env.http(base + path)
            assert r.status == 200, (server, path, r.status, r.body[:200])
            assert r.headers["content-type"].startswith("text/html"), r.headers
            html = r.body.decode()
            assert "大模型 API 中转平台" in html or "API" in html
            assert base + "/api/call.php" in html, (server, path)
            # the upstream's endpoint never shows (the SDK routes' own paths do)
            assert "upstream-secret-key-123" not in html and env.mock_url + "/v1" not in html
            # the SDK examples and the Claude Code settings point at this host
            assert "baseURL: '%s/api/call.php/v1'" % base in html, (server, path)
            assert "ANTHROPIC_BASE_URL='%s/api/call.php'" % base in html
            assert "ANTHROPIC_AUTH_TOKEN" in html and "ANTHROPIC_MODEL" in html
        r = env.http(base + "/api/", headers={"Host": '127.0.0.1"><script>alert(1)</script>'})
        assert r.status in (200, 400), r.status
        assert b"<script>alert(1)" not in r.body
    # the live status on the page comes from the same code as status.php
    env.stop_db()
    try:
        r = env.http(base + "/api/")
        assert r.status == 200 and ("unhealthy" in r.text or "不可用" in r.text), r.text[:500]
    finally:
        env.start_db()


def test_v1_routes_share_the_call_pool(env):
    """The shipped configs send /v1/... to the call binary's route table (one
    pool, one order): both routes answer through both servers, with Claude
    Code's ?beta=true too, Bearer keys pass Apache, and no v1 process is
    started."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    for server in SERVERS:
        base = _base(env, server)
        env.mock_reset()
        r = env.http(base + "/v1/chat/completions", method="POST", body=req(),
                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        assert r.status == 200 and r.json()["object"] == "chat.completion", (server, r.status, r.body[:200])
        r = env.http(base + "/v1/messages?beta=true", method="POST", body=ANTHROPIC_REQ,
                     headers={"x-api-key": key, "anthropic-version": "2023-06-01",
                              "Content-Type": "application/json"})
        assert r.status == 200 and r.json()["type"] == "message", (server, r.status, r.body[:200])
        recs = env.mock_requests()
        assert [x["path"].split("?")[0] for x in recs] == ["/v1/chat/completions", "/v1/messages"], \
            (server, [x["path"] for x in recs])
        r = env.http(base + "/v1/nope", method="POST", body=b"{}",
                     headers={"Authorization": "Bearer " + key})
        assert r.status == 404 and "error" in r.json(), (server, r.status, r.body[:200])
        env.settle()
        rows = env.sql("SELECT route FROM request_log ORDER BY id DESC LIMIT 2")
        assert sorted(x for (x,) in rows) == ["chat", "messages"], (server, rows)
        # this server's FastCGI processes: call ones, no v1 among them
        import harness
        srv = env._lighttpd if server == "lighttpd" else env._apache
        progs = set()     # by command line: under valgrind the name is valgrind's
        for pid in harness._descendants(srv["proc"].pid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            progs.update(os.path.basename(a.decode("utf-8", "replace")) for a in argv
                         if a.endswith((b"/call", b"/v1")))
        assert "call" in progs and "v1" not in progs, (server, progs)


def test_metering_after_the_answer_on_the_metering_thread(env):
    """Under FastCGI a direct request is metered by the process's metering
    thread after its answer (meterq.h): every request still ends as one
    row, counted once, its locks let go at once (the next request and a
    waiter get the slot), and what is queued at a shutdown is metered
    before the process exits."""
    env.settings["RELAY_UPSTREAM_SLOTS"] = "1"
    k = env.add_user("m", daily_requests=500, daily_tokens=0)
    for server in SERVERS:
        env.sql("DELETE FROM request_log; DELETE FROM daily_usage")
        base = _base(env, server)
        for i in range(30):
            r = env.http(base + "/v1/chat/completions", method="POST", body=jbody(req(n=i)),
                         headers={"Authorization": "Bearer " + k,
                                  "Content-Type": "application/json"})
            assert r.status == 200, (server, r.status, r.body[:200])
        env.settle()
        assert env.sql("SELECT COUNT(*), COUNT(DISTINCT admit_id), SUM(error IS NULL),"
                       " SUM(total_tokens) FROM request_log") == [["30", "30", "30", "990"]], server
        assert env.sql("SELECT requests, tokens, errors FROM daily_usage") == [["30", "990", "0"]]
        assert _slot_free(env), server
        # a holder of the one slot, an inline waiter behind it: the holder's
        # release (before its metering) lets the waiter in
        box = {}

        def hold(b=box):
            b["h"] = env.http(base + "/v1/chat/completions", method="POST",
                              body=jbody(req(mock={"stall": 1})), timeout=60,
                              headers={"Authorization": "Bearer " + k,
                                       "Content-Type": "application/json"})
        import threading
        t = threading.Thread(target=hold)
        t.start()
        wait_until(lambda: not _slot_free(env), what="the holder's slot")
        w = env.http(base + "/v1/chat/completions", method="POST", body=jbody(req(n=99)),
                     timeout=60, headers={"Authorization": "Bearer " + k,
                                          "Content-Type": "application/json",
                                          "X-Relay-Wait": "30"})
        t.join()
        assert box["h"].status == 200 and w.status == 200, (server, box["h"].status, w.status)
        # answered, then the server stops at once: nothing queued is lost
        for i in range(10):
            assert env.http(base + "/v1/chat/completions", method="POST",
                            body=jbody(req(n=200 + i)),
                            headers={"Authorization": "Bearer " + k,
                                     "Content-Type": "application/json"}).status == 200
        if server == "lighttpd":
            env.stop_lighttpd()
        else:
            env.stop_apache()
        env.settle()
        assert env.sql("SELECT COUNT(*), SUM(error IS NULL) FROM request_log") == \
            [["42", "42"]], (server, env.sql("SELECT error FROM request_log WHERE error IS NOT NULL"))
        assert env.sql_value("SELECT requests FROM daily_usage") == "42"
        assert _slot_free(env)
