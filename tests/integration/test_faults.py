"""Faults and hostile input (issue 6): the database restarting under load,
an upstream that floods, lies and stalls, clients that lie."""
import json
import os
import resource
import socket
import subprocess
import threading
import time

from common import call_popen, ANTHROPIC_REQ, assert_error, call, jbody, last_log, req, usage, wait_until


def test_database_restart_under_load(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "32"
    base = "http://127.0.0.1:%d" % env.start_lighttpd()
    results, lock, done = [], threading.Lock(), threading.Event()

    def client():
        while not done.is_set():
            try:
                r = call(env, req(), key, via=base, timeout=30)
                with lock:
                    results.append((r.status, r.body))
            except Exception as e:  # noqa: BLE001
                with lock:
                    results.append((0, repr(e).encode()))

    def seen(pred, n):
        with lock:
            return sum(1 for status, _b in results if pred(status)) >= n

    ts = [threading.Thread(target=client) for _ in range(16)]
    for t in ts:
        t.start()
    # The phases follow the traffic, not the clock: under valgrind on a
    # loaded machine lighttpd's first processes can take longer to start
    # than a timed outage lasts (seen in CI: every answer came after it).
    slow = env.timeout_factor
    try:
        wait_until(lambda: seen(lambda s: s == 200, 32), 60 * slow, "answers before the outage")
        env.stop_db()
        wait_until(lambda: seen(lambda s: s != 200, 16), 60 * slow, "errors during the outage")
        env.start_db()
        after = len(results)
        wait_until(lambda: sum(1 for s, _b in results[after:] if s == 200) >= 32,
                   60 * slow, "answers after the restart")
    finally:
        done.set()
        for t in ts:
            t.join(60)
    codes = {}
    for status, body in results:
        codes[status] = codes.get(status, 0) + 1
        assert status in (200, 500, 502, 503), (status, body[:300])
        if status != 200:
            j = json.loads(body)
            assert j["success"] is False and j["code"] == status, j
            # 502 only for a request already at the upstream when its
            # slot went with the connection (src/relay/exchange.c stops it
            # rather than run more calls than upstream_slots)
            assert status != 502 or "lost its upstream slot" in j["message"], j
    assert codes.get(200, 0) > 0 and codes.get(500, 0) > 0, codes
    print("responses during the restart:", codes)
    # recovered by itself: no web server restart, no stuck lock or item
    r = call(env, req(), key, via=base)
    assert r.status == 200, r.body
    assert env.sql_value("SELECT IS_FREE_LOCK('%s:slot:1')" % env.lock_prefix) == "1"
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE status = 'processing'") == "0"


def test_upstream_accepts_and_never_answers(env):
    key = env.add_user("alice")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)         # accepts (kernel backlog), never reads or answers
    try:
        url = "http://127.0.0.1:%d/v1/chat/completions" % srv.getsockname()[1]
        e = env.relay_env(RELAY_OPENAI_URL=url, RELAY_REQUEST_TIMEOUT="2")
        t0 = time.time()
        assert_error(call(env, req(), key, env_over=e), 502)
        assert time.time() - t0 < 10
        r = call(env, req(stream=True), key, env_over=e)
        assert_error(r, 502)
    finally:
        srv.close()
    assert env.sql_value("SELECT IS_FREE_LOCK('%s:slot:1')" % env.lock_prefix) == "1"


def test_huge_stream_bounded_memory(env):
    key = env.add_user("alice", daily_tokens=0)
    body = jbody(req(stream=True, mock={"mode": "stream", "huge_mb": 200}))
    p = call_popen(env, body, key)
    total, peak = 0, 0
    while True:
        b = p.stdout.read(1 << 20)
        if not b:
            break
        total += len(b)
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    p.wait(timeout=60)
    assert total > 200 * 1024 * 1024, total
    print("streamed %.0f MB, peak RSS of call %.1f MB" % (total / 1e6, peak / 1024.0))
    if not os.environ.get("SANITIZER_LOG_DIR") and not env.valgrind:
        assert peak < 64 * 1024, peak        # far below the 200 MB that went through
    log = last_log(env)
    assert log["usage_known"] == "1" and log["http_status"] == "200", log


def test_slow_client_is_not_buffered_unboundedly(env):
    key = env.add_user("alice", daily_tokens=0)
    base = "http://127.0.0.1:%d" % env.start_lighttpd()
    body = jbody(req(stream=True, mock={"mode": "stream", "huge_mb": 40}))
    port = int(base.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"POST /api/call.php HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"X-API-Key: " + key.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
              b"\r\nConnection: close\r\n\r\n" + body)
    got = 0
    t_end = time.time() + 3
    while time.time() < t_end:        # read slowly for a while
        got += len(s.recv(4096))
        time.sleep(0.01)
    # the relay is held back by the slow reader instead of reading the whole
    # upstream answer into memory: the mock has not finished sending
    recs = env.mock_requests()
    assert recs and got < 40 * 1024 * 1024
    s.close()
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log") == "1", timeout=60,
               what="the abandoned stream to be logged")


def test_client_lies_and_hostile_headers(env):
    key = env.add_user("alice")
    body = jbody(req())
    # Content-Length longer than the body (CGI: stdin ends early) -> 400;
    # shorter: only the declared bytes count -> not JSON -> 400
    for cl in (len(body) + 50, 10):
        cenv = env.relay_env()
        cenv.update({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(cl),
                     "CONTENT_TYPE": "application/json", "HTTP_X_API_KEY": key})
        p = subprocess.run([os.path.join(env.cgi_bin_dir, "call")], input=body, env=cenv,
                           capture_output=True, timeout=30)
        head, _, rest = p.stdout.partition(b"\r\n\r\n")
        assert head.startswith(b"Status: 400"), (cl, p.stdout[:300])
        assert json.loads(rest)["code"] == 400
    # CR/LF smuggled into a header that would go upstream
    r = call(env, ANTHROPIC_REQ, key, headers={"anthropic-version": "2023-06-01\r\nX-Evil: 1"})
    assert_error(r, 400)
    assert all(not any(k.lower() == "x-evil" for k, _ in rec["headers"]) for rec in env.mock_requests())
    # hostile strings are data: model names with quotes land in the log verbatim
    m = "x'); DROP TABLE request_log; --\"<script>"
    assert call(env, req(model=m), key).status == 200
    assert last_log(env)["model"] == m
    # through the web servers: chunked bodies, huge headers, early EOF
    for server in ("lighttpd", "apache"):
        port = env.start_lighttpd() if server == "lighttpd" else env.start_apache()
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        raw = _raw(port, b"POST /api/call.php HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key.encode() +
                   b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + chunked)
        assert raw.split(b"\r\n", 1)[0].endswith(b"200 OK"), (server, raw[:300])
        raw = _raw(port, b"GET /api/status.php HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 +
                   b"\r\nConnection: close\r\n\r\n")
        assert raw[:12] in (b"HTTP/1.1 431", b"HTTP/1.1 400", b"HTTP/1.0 400", b"HTTP/1.0 431",
                            b"HTTP/1.1 413") or raw == b"", (server, raw[:100])
        raw = _raw(port, b"POST /api/call.php HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key.encode() +
                   b"\r\nContent-Length: 500\r\nConnection: close\r\n\r\n" + body, shut=True)
        assert not raw.split(b"\r\n", 1)[0].endswith(b"200 OK"), (server, raw[:200])
        assert env.http("http://127.0.0.1:%d/api/status.php" % port).status == 200


def _raw(port, data, shut=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return out
