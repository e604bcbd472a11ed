"""Tests of the integration harness itself (and of the web server templates,
with a tiny FastCGI echo program instead of the relay binaries)."""

import os
import shutil
import subprocess
import time

import harness


def test_db_up(env):
    assert env.db_running()
    assert env.sql("SELECT 1") == [["1"]]
    assert env.sql("SELECT DATABASE()") == [["llm_relay"]]
    assert env.sql("SELECT @@character_set_database", db="llm_relay") == [["utf8mb4"]]


def test_sql_values(env):
    rows = env.sql("SELECT 1, NULL, 'NULL', 'a\\tb\\nc', '<&>\"', '', '  x  ', '你好'")
    assert rows == [["1", None, "NULL", "a\tb\nc", "<&>\"", "", "  x  ", "你好"]], rows
    assert env.sql("SELECT 1 UNION ALL SELECT 2") == [["1"], ["2"]]
    # several statements: rows of every result set
    assert env.sql("SELECT 'a'; DO 1; SELECT 'b', NULL") == [["a"], ["b", None]]
    assert env.sql("DO 1") == []
    assert env.sql_value("SELECT 41 + 1") == "42"
    try:
        env.sql("SELEC 1")
    except harness.SqlError as e:
        assert "syntax" in str(e), e
    else:
        raise AssertionError("no SqlError for bad SQL")


def _client(env, *args, sql):
    return subprocess.run(["mariadb", "--no-defaults", "-urelay", "-prelay-pw", "-N", "-B"]
                          + list(args) + ["llm_relay", "-e", sql],
                          capture_output=True, text=True, timeout=30)


def test_relay_user_socket_and_tcp(env):
    q = "SELECT CURRENT_USER(), GET_LOCK('%s:selftest', 0)" % env.lock_prefix
    r = _client(env, "-S", env.db_sock, sql=q)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["relay@localhost", "1"], r.stdout
    r = _client(env, "-h", "127.0.0.1", "-P", str(env.db_port), "--protocol=TCP", sql=q)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "1", r.stdout
    # PROCESS privilege: the relay user sees other users' connections
    r = _client(env, "-S", env.db_sock, sql="SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                           "WHERE USER <> 'relay'")
    assert r.returncode == 0, r.stderr
    # the relay user may create tables in its database
    r = _client(env, "-S", env.db_sock,
                sql="CREATE TABLE selftest_t (a INT); DROP TABLE selftest_t")
    assert r.returncode == 0, r.stderr


def test_db_stop_start(env):
    env.sql("CREATE TABLE IF NOT EXISTS selftest_keep (v VARCHAR(10))")
    try:
        env.sql("INSERT INTO selftest_keep VALUES ('kept')")
        env.stop_db()
        env.stop_db()                       # idempotent
        assert not env.db_running()
        try:
            env.sql("SELECT 1")
        except harness.SqlError:
            pass
        else:
            raise AssertionError("sql() worked with the DB stopped")
        t = time.monotonic()
        env.start_db()
        assert time.monotonic() - t < 30
        assert env.sql("SELECT v FROM selftest_keep") == [["kept"]]
        r = _client(env, "-h", "127.0.0.1", "-P", str(env.db_port), "--protocol=TCP", sql="SELECT 1")
        assert r.returncode == 0, r.stderr
    finally:
        env.sql("DROP TABLE IF EXISTS selftest_keep")


def test_mock_reachable(env):
    if not env.mock_running():
        raise harness.Skip("mock upstream not running")
    r = env.http(env.mock_url + "/__health")
    assert r.status == 200, r
    assert env.mock_requests() == [] or all(x["path"].startswith("/__") for x in env.mock_requests())
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
    r = env.http(env.settings["RELAY_OPENAI_URL"], method="POST",
                 headers={"Content-Type": "application/json", "Authorization": "Bearer x"}, body=body)
    assert r.status == 200, r
    assert "choices" in r.json(), r
    recs = [x for x in env.mock_requests() if x["path"] == "/v1/chat/completions"]
    assert len(recs) == 1, recs
    assert recs[0]["body"] == body
    assert recs[0]["method"] == "POST"
    assert ["Authorization", "Bearer x"] in [list(h) for h in recs[0]["headers"]] or \
        any(k.lower() == "authorization" and v == "Bearer x" for k, v in recs[0]["headers"])
    env.mock_reset()
    assert [x for x in env.mock_requests() if x["path"] == "/v1/chat/completions"] == []


def test_relay_env_and_config(env):
    os.environ["RELAY_SELFTEST_LEAK"] = "1"
    try:
        e = env.relay_env()
        assert "RELAY_SELFTEST_LEAK" not in e
        assert e["RELAY_DB_SOCKET"] == env.db_sock
        assert e["RELAY_LOCK_PREFIX"] == env.lock_prefix
        if env.mock_url:
            assert e["RELAY_OPENAI_URL"] == env.mock_url + "/v1/chat/completions"
            assert e["RELAY_ANTHROPIC_URL"] == env.mock_url + "/v1/messages"
        e = env.relay_env(RELAY_UPSTREAM_SLOTS=3, RELAY_SSL_VERIFY=None, queue_max=7, TZ="UTC")
        assert e["RELAY_UPSTREAM_SLOTS"] == "3"
        assert "RELAY_SSL_VERIFY" not in e
        assert e["RELAY_QUEUE_MAX"] == "7"
        assert e["TZ"] == "UTC"
    finally:
        del os.environ["RELAY_SELFTEST_LEAK"]
    path = env.write_config(RELAY_UPSTREAM_SLOTS=2, RELAY_SSL_VERIFY=None)
    assert path == os.path.join(env.tmp, "relay.conf")
    text = open(path).read()
    assert 'db_socket = "%s"' % env.db_sock in text, text
    assert 'upstream_slots = "2"' in text, text
    assert "ssl_verify" not in text
    assert 'db_password = "relay-pw"' in text
    # settings changes are undone by the runner before the next test
    env.settings["RELAY_QUEUE_MAX"] = "1"


def test_settings_were_reset(env):
    assert "RELAY_QUEUE_MAX" not in env.settings


CGI_SCRIPT = r"""#!/bin/sh
printf 'Status: 418 I am a teapot\r\nContent-Type: text/plain\r\nX-Echo: 1\r\n\r\n'
printf 'method=%s|query=%s|uri=%s|script=%s|key=%s|auth=%s|ctype=%s|clen=%s|lock=%s\n' \
  "$REQUEST_METHOD" "$QUERY_STRING" "$REQUEST_URI" "$SCRIPT_NAME" "$HTTP_X_API_KEY" \
  "$HTTP_AUTHORIZATION" "$CONTENT_TYPE" "$CONTENT_LENGTH" "$RELAY_LOCK_PREFIX"
cat
sleep 0.3; printf 'A'; sleep 0.3; printf 'B'
"""


def test_cgi_and_stream(env):
    d = os.path.join(env.tmp, "selftest-sh-cgi")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "status"), "w") as f:
        f.write(CGI_SCRIPT)
    os.chmod(os.path.join(d, "status"), 0o755)
    env.cgi_bin_dir = d
    if env.valgrind:
        raise harness.Skip("a shell script cannot run under valgrind")
    r = env.cgi("status", method="POST", query={"queue_id": "7"},
                headers={"X-API-Key": "k-1", "Authorization": "Bearer b", "Content-Type": "application/json"},
                body=b'{"x":1}')
    assert r.status == 418, r
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["x-echo"] == "1"
    first = r.body.split(b"\n")[0].decode()
    assert first == ("method=POST|query=queue_id=7|uri=/api/status.php?queue_id=7|script=/api/status.php"
                     "|key=k-1|auth=Bearer b|ctype=application/json|clen=7|lock=%s" % env.lock_prefix), first
    assert r.body.endswith(b'{"x":1}AB'), r.body
    r = env.cgi_stream("status", method="GET")
    assert r.status == 418
    assert r.body.endswith(b"AB")
    assert b"Status:" not in b"".join(c for _, c in r.chunks)
    times = [t for t, c in r.chunks]
    assert len(times) >= 3, r.chunks
    assert times[-1] - times[0] >= 0.45, r.chunks


FAKE_FCGI_C = r"""
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    FCGX_Request r;
    char exe[512] = "", line[1024], buf[65536];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) exe[n] = 0;
    const char *cfg = getenv("RELAY_CONFIG");
    FCGX_Init();
    FCGX_InitRequest(&r, 0, 0);
    while (FCGX_Accept_r(&r) >= 0) {
        long total = 0; int k;
        while ((k = FCGX_GetStr(buf, sizeof buf, r.in)) > 0) total += k;
        const char *key = FCGX_GetParam("HTTP_X_API_KEY", r.envp);
        const char *auth = FCGX_GetParam("HTTP_AUTHORIZATION", r.envp);
        const char *script = FCGX_GetParam("SCRIPT_NAME", r.envp);
        FCGX_PutS("Status: 200\r\nContent-Type: text/event-stream\r\n\r\n", r.out);
        snprintf(line, sizeof line, "exe=%s\nconfig=%s\nkey=%s\nauth=%s\nscript=%s\nbody=%ld\n",
                 exe, cfg ? cfg : "", key ? key : "", auth ? auth : "", script ? script : "", total);
        FCGX_PutS(line, r.out);
        /* stream (with pauses) only small requests to call */
        int chunks = (script && strstr(script, "call") && total < 1000) ? 3 : 0;
        for (int i = 0; i < chunks; i++) {
            FCGX_FFlush(r.out);
            usleep(300000);
            snprintf(line, sizeof line, "data: %d\n\n", i);
            FCGX_PutS(line, r.out);
        }
        FCGX_Finish_r(&r);
    }
    return 0;
}
"""


def _build_fake_fcgi(env):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not shutil.which("pkg-config"):
        raise harness.Skip("no C compiler / pkg-config")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fcgi"], capture_output=True, text=True)
    if flags.returncode != 0:
        raise harness.Skip("libfcgi-dev not installed")
    d = os.path.join(env.tmp, "selftest-fcgi-bin")
    if all(os.path.exists(os.path.join(d, p)) for p in harness.WEB_PROGS):
        return d
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    src = os.path.join(d, "fake.c")
    with open(src, "w") as f:
        f.write(FAKE_FCGI_C)
    out = os.path.join(d, "call")
    r = subprocess.run([cc, "-O1", "-o", out, src] + flags.stdout.split(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for p in harness.WEB_PROGS:
        if p != "call":
            shutil.copy2(out, os.path.join(d, p))
    return d


def _fields(body):
    out = {}
    for line in body.decode().splitlines():
        if "=" in line and not line.startswith("data:"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def _check_server(env, base, cfg_path, d):
    hdrs = {"X-API-Key": "sk-selftest", "Authorization": "Bearer tok", "Content-Type": "application/json"}
    r = env.http_stream(base + "/api/call.php", method="POST", headers=hdrs, body=b'{"a":1}')
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/event-stream"), r.headers
    f = _fields(r.body)
    assert f["exe"].endswith("/call"), f
    assert f["config"] == cfg_path, (f, cfg_path)
    assert f["key"] == "sk-selftest", f
    assert f["auth"] == "Bearer tok", f
    assert f["script"] == "/api/call.php", f
    assert f["body"] == "7", f
    assert r.body.endswith(b"data: 2\n\n"), r.body
    times = [t for t, _ in r.chunks]
    assert len(r.chunks) >= 3 and times[-1] - times[0] >= 0.5, \
        "response not streamed: %r" % [(round(t - r.t0, 2), c[:20]) for t, c in r.chunks]
    for prog in ("status", "queue_status"):
        r = env.http(base + "/api/%s.php?queue_id=1" % prog)
        assert r.status == 200, r
        assert _fields(r.body)["exe"].endswith("/" + prog), r.body
    if "docs" in harness.WEB_PROGS:
        for path in ("/api/", "/"):
            r = env.http(base + path)
            assert r.status == 200, (path, r)
            assert _fields(r.body)["exe"].endswith("/docs"), (path, r.body)
    r = env.http(base + "/api/call.php", method="POST", headers=hdrs, body=b"x" * (10 * 1024 * 1024))
    assert r.status == 200, r
    assert _fields(r.body)["body"] == str(10 * 1024 * 1024)
    assert env.http(base + "/api/nothing.php").status == 404


def test_web_server_templates(env):
    """lighttpd.conf and apache.conf with a FastCGI echo program: mapping,
    RELAY_CONFIG, X-API-Key/Authorization, 10 MiB body, streaming."""
    d = _build_fake_fcgi(env)
    try:
        env.start_lighttpd(cgi_bin=d)
        _check_server(env, env.lighttpd_url, os.path.join(env.tmp, "lighttpd", "relay.conf"), d)
        env.start_apache(cgi_bin=d)
        _check_server(env, env.apache_url, os.path.join(env.tmp, "apache", "relay.conf"), d)
    finally:
        env.stop_lighttpd()
        env.stop_apache()


test_web_server_templates.timeout = 180


def test_fcgi_spawn(env):
    d = _build_fake_fcgi(env)
    env.cgi_bin_dir = d
    try:
        r = env.fcgi("status", headers={"X-API-Key": "k9"}, query="queue_id=3")
        assert r.status == 200, r
        f = _fields(r.body)
        assert f["key"] == "k9" and f["script"] == "/api/status.php", f
        assert f["config"] == ""     # settings come from RELAY_* in the process env
        r = env.fcgi("status", method="POST", body=b"x" * 100000)
        assert _fields(r.body)["body"] == "100000", r
        r = env.fcgi_stream("call", method="POST", body=b"{}")
        assert r.body.endswith(b"data: 2\n\n"), r
        times = [t for t, _ in r.chunks]
        assert times[-1] - times[0] >= 0.5, r.chunks
    finally:
        env.stop_fcgi_app()
