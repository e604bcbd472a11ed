"""The web console (issue 15): /console/ pages and the /api/v1/ JSON API of
cgi-bin/console, through lighttpd (and a smoke run through Apache and
plain CGI), with the harness's MariaDB and mock upstream.

* test_console_browser drives a real chromium with playwright-core
  (tests/integration/js/console_browser.js); screenshots of the main pages
  go to $CONSOLE_SHOT_DIR or a fresh /tmp/llm-relay-console-shots-* folder
  (printed; never in the repository).
* The other tests use a plain HTTP client (http.client via env.http).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

from common import OPENAI_REQ, assert_error, header, jbody, wait_until
from harness import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ADMIN, ADMIN_PW = "root-admin", "admin-pass-1"
CHROMIUM = "/usr/bin/chromium"


# ---------------------------------------------------------------- helpers

def make_admin(env, name=ADMIN, pw=ADMIN_PW, admin=True):
    """A console user made the documented way: relayctl user add / passwd
    (password on stdin) / set --admin 1."""
    for args, inp in ((("user", "add", name), None), (("user", "passwd", name), pw + "\n"),
                      (("user", "set", name, "--admin", "1" if admin else "0"), None)):
        r = env.relayctl(*args, input=inp)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return int(env.sql_value("SELECT id FROM users WHERE name = '%s'" % name))


class Client:
    """One console client against a base URL: keeps the session cookie,
    sends X-CSRF-Token on changing requests (unless told not to), or a
    Bearer token when given one."""

    def __init__(self, env, base):
        self.env, self.base = env, base
        self.cookie = None
        self.csrf = None
        self.bearer = None

    def req(self, method, path, body=None, csrf=True, headers=None, raw=False):
        h = {}
        if self.cookie:
            h["Cookie"] = self.cookie
        if self.bearer:
            h["Authorization"] = "Bearer " + self.bearer
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            if raw:
                data = body
            else:
                h["Content-Type"] = "application/json"
                data = jbody(body)
        h.update(headers or {})
        r = self.env.http(self.base + path, method=method, headers=h, body=data)
        for k, v in r.raw_headers:
            if k.lower() == "set-cookie" and v.startswith("relay_session="):
                val = v.split(";", 1)[0].split("=", 1)[1]
                self.cookie = ("relay_session=" + val) if val else None
        return r

    def login(self, name, pw, expect=200):
        r = self.req("POST", "/api/v1/auth/login", {"name": name, "password": pw})
        assert r.status == expect, r
        if expect == 200:
            d = r.json()["data"]
            self.csrf = d["csrf_token"]
            self.token = d["token"]
        return r


def ok(r, status=200):
    """The API's success shape; returns data."""
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    j = r.json()
    assert j["success"] is True, j
    return j.get("data")


def lighttpd(env):
    env.start_lighttpd()
    return env.lighttpd_url


def audit_rows(env):
    return env.sql("SELECT actor_name, action, target, COALESCE(detail, ''), at IS NOT NULL"
                   " FROM audit_log ORDER BY id")


def wait_logged(env, n):
    """call.php answers before it writes its request_log row (the metering
    round trip follows the response): wait for the row, not for a time."""
    wait_until(lambda: int(env.sql_value("SELECT COUNT(*) FROM request_log")) >= n,
               timeout=30, what="%d request_log row(s)" % n)


def npm_modules():
    """node_modules of tests/npm/install.sh (installing it if needed); a
    missing tool is a failure with the fix in the message, never a skip."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), "%s is missing: install Node.js (tools/deps.sh)" % tool
    r = subprocess.run(["sh", os.path.join(ROOT, "tests", "npm", "install.sh")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    assert r.returncode == 0, "tests/npm/install.sh failed:\n%s" % r.stderr[-3000:]
    path = r.stdout.strip().splitlines()[-1]
    assert os.path.isdir(os.path.join(path, "playwright-core")), \
        "playwright-core is missing from %s (tests/npm/package.json)" % path
    return path


# Every API route with a body that passes argument checks: (method, path, body).
MEMBER_ROUTES = [
    ("GET", "/api/v1/auth/me", None),
    ("GET", "/api/v1/user/keys", None),
    ("POST", "/api/v1/user/keys", {"name": "k"}),
    ("DELETE", "/api/v1/user/keys/999", None),
    ("POST", "/api/v1/user/keys/999/revoke", {}),
    ("GET", "/api/v1/user/usage", None),
    ("GET", "/api/v1/user/requests", None),
    ("GET", "/api/v1/user/queue", None),
    ("POST", "/api/v1/auth/logout", {}),
]
ADMIN_ROUTES = [
    ("GET", "/api/v1/admin/users", None),
    ("POST", "/api/v1/admin/users", {"name": "zz"}),
    ("PUT", "/api/v1/admin/users/999", {"priority": 1}),
    ("PATCH", "/api/v1/admin/users/999", {"priority": 1}),
    ("DELETE", "/api/v1/admin/users/999", None),
    ("GET", "/api/v1/admin/keys", None),
    ("POST", "/api/v1/admin/keys", {"user_id": 999}),
    ("DELETE", "/api/v1/admin/keys/999", None),
    ("GET", "/api/v1/admin/queue", None),
    ("POST", "/api/v1/admin/queue/999/cancel", {}),
    ("POST", "/api/v1/admin/queue/999/retry", {}),
    ("GET", "/api/v1/admin/usage", None),
    ("GET", "/api/v1/admin/usage.csv", None),
    ("GET", "/api/v1/admin/audit", None),
]


# ---------------------------------------------------------------- browser

def test_console_browser(env):
    """Admin logs in, creates users and a key; the member logs in, sees the
    key's prefix, calls the relay with it, sees the request and the usage
    chart grow; wrong password, expired session, missing CSRF, another
    member's page and key, XSS probes in user and key names."""
    assert os.path.exists(CHROMIUM), \
        "chromium is missing: apt-get install -y chromium (tools/deps.sh installs it)"
    modules = npm_modules()
    base = lighttpd(env)
    make_admin(env)
    shots = os.environ.get("CONSOLE_SHOT_DIR") or tempfile.mkdtemp(
        prefix="llm-relay-console-shots-", dir="/tmp")
    os.chmod(shots, 0o755)
    penv = dict(os.environ, NODE_MODULES=modules, BASE_URL=base, ADMIN_NAME=ADMIN,
                ADMIN_PASSWORD=ADMIN_PW, SHOT_DIR=shots, CHROMIUM=CHROMIUM)
    script = os.path.join(HERE, "js", "console_browser.js")
    p = subprocess.Popen(["node", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=penv, cwd=env.tmp,
                         start_new_session=True)
    env._running.add(p)   # ended by the harness if the test times out
    out, done = [], None
    try:
        for line in p.stdout:
            out.append(line)
            if line.startswith("@@ASK expire "):
                # the member's session runs out (as if console_session_hours passed)
                name = line.split(" ", 2)[2].strip()
                env.sql("UPDATE console_sessions s JOIN users u ON u.id = s.user_id"
                        " SET s.expires_at = NOW() - INTERVAL 1 SECOND"
                        " WHERE u.name = '%s'" % name)
                p.stdin.write("ok\n")
                p.stdin.flush()
            elif line.startswith("@@ASK enqueue "):
                # a waiting item of the member, for the admin's cancel button
                name = line.split(" ", 2)[2].strip()
                env.sql("INSERT INTO queue (user_id, key_id, format, model, body, status)"
                        " SELECT u.id, k.id, 'openai', 'gpt-test', '{}', 'waiting' FROM users u"
                        " JOIN api_keys k ON k.user_id = u.id WHERE u.name = '%s' LIMIT 1" % name)
                p.stdin.write(env.sql_value("SELECT MAX(id) FROM queue") + "\n")
                p.stdin.flush()
            elif line.startswith("@@ASK logged "):
                wait_logged(env, int(line.split(" ", 2)[2]))
                p.stdin.write("ok\n")
                p.stdin.flush()
            elif line.startswith("@@DONE "):
                done = json.loads(line[7:])
        p.wait(timeout=60)
    finally:
        env._running.discard(p)
        if p.poll() is None:
            p.kill()
            p.wait()
    sys.stdout.write("console screenshots: %s\n" % shots)
    assert p.returncode == 0 and done is not None, "browser run failed:\n" + "".join(out[-60:])
    shots_made = sorted(os.listdir(shots))
    assert len(shots_made) >= 10, shots_made
    # what the browser did is in the audit log, in order, with its actor
    acts = [(a, b) for a, b, _t, _d, _at in audit_rows(env)]
    for want in [(ADMIN, "login"), (ADMIN, "user.create"), (ADMIN, "key.create"),
                 (ADMIN, "logout"), ("member1", "login"), (ADMIN, "user.update"),
                 (ADMIN, "queue.cancel")]:
        assert want in acts, (want, acts)
    # the escaped names are stored as typed
    assert env.sql_value("SELECT COUNT(*) FROM users WHERE name LIKE '<script>%'") == "1"
    # the call went through the relay to the mock upstream, metered for the member
    assert len(env.mock_requests()) == 1
    assert env.sql("SELECT priority, max_concurrent FROM users WHERE name = 'member1'") == \
        [["4", "2"]]
    assert env.sql_value("SELECT COUNT(*) FROM request_log l JOIN users u ON u.id = l.user_id"
                         " WHERE u.name = 'member1' AND l.http_status = 200") == "1"


test_console_browser.timeout = 240


# ---------------------------------------------------------------- JSON API

def test_console_api_anonymous(env):
    """Without a session every route but login/register is 401 in the one
    error shape; unknown paths 404, wrong methods 405; pages redirect."""
    base = lighttpd(env)
    c = Client(env, base)
    for method, path, body in MEMBER_ROUTES + ADMIN_ROUTES:
        assert_error(c.req(method, path, body), 401, "未登录")
    assert_error(c.req("GET", "/api/v1/nothing"), 404)
    assert_error(c.req("GET", "/api/v1/user/keys/12"), 405)   # DELETE only
    assert_error(c.req("GET", "/api/v1/auth/login"), 405)
    assert_error(c.req("DELETE", "/api/v1/auth/me"), 405)
    # a bad body: not JSON, not an object; a login must be JSON (no form CSRF)
    assert_error(c.req("POST", "/api/v1/auth/login", b"{nope", raw=True,
                       headers={"Content-Type": "application/json"}), 400)
    assert_error(c.req("POST", "/api/v1/auth/login", b"[1]", raw=True,
                       headers={"Content-Type": "application/json"}), 400)
    assert_error(c.req("POST", "/api/v1/auth/login", b"name=a&password=b", raw=True,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert_error(c.req("POST", "/api/v1/auth/login", {"name": "x"}), 400)
    assert_error(c.req("POST", "/api/v1/auth/login", {"name": "nobody", "password": "whatever1"}),
                 401, "用户名或密码错误")
    # a Bearer token that is no session is anonymous too
    c.bearer = "0" * 64
    assert_error(c.req("GET", "/api/v1/auth/me"), 401)
    # pages: the login form, everything else goes there
    r = env.http(base + "/console/keys")
    assert r.status == 303 and r.headers["location"] == "/console/login", r
    r = env.http(base + "/console")
    assert r.status == 303 and r.headers["location"] == "/console/", r
    r = env.http(base + "/console/login")
    assert r.status == 200 and "text/html" in r.headers["content-type"], r
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp, csp
    assert "<script" not in r.text
    r = env.http(base + "/console/nothing")
    assert r.status == 404 and "text/html" in r.headers["content-type"], r
    # /v1 (SDK routes) and /api/v1 (console) stay apart
    r = env.http(base + "/v1/models")
    assert r.status == 401 and "error" in r.json(), r       # the SDK's own error shape
    assert_error(env.http(base + "/api/v1/models"), 404)     # the console's


def test_console_api_roles(env):
    """A member gets every member route and 403 on every admin route; an
    admin gets both."""
    base = lighttpd(env)
    make_admin(env)
    make_admin(env, "memb", "memb-pass-1", admin=False)
    m = Client(env, base)
    m.login("memb", "memb-pass-1")
    for method, path, body in ADMIN_ROUTES:
        assert_error(m.req(method, path, body), 403, "管理员")
    # the member's pages of the admin part: 403 HTML
    r = m.req("GET", "/console/admin/users")
    assert r.status == 403 and "text/html" in r.headers["content-type"], r
    expect = {"DELETE": 404, "POST": 404}
    for method, path, body in MEMBER_ROUTES:
        r = m.req(method, path, body)
        if path.endswith("/999") or path.endswith("/999/revoke"):
            assert_error(r, expect[method])
        elif path == "/api/v1/user/keys" and method == "POST":
            ok(r, 201)
        else:
            ok(r)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    for method, path, body in ADMIN_ROUTES:
        r = a.req(method, path, body)
        assert r.status in (200, 201, 404), (path, r)
        if r.status == 404:
            assert_error(r, 404)
        elif path.endswith(".csv"):
            assert r.headers["content-type"].startswith("text/csv"), r
        else:
            ok(r, r.status)
    me = ok(a.req("GET", "/api/v1/auth/me"))
    assert me["user"]["role"] == "admin" and me["user"]["name"] == ADMIN


def test_console_api_admin_flows(env):
    """Users, keys, queue, usage and audit through the admin API, with the
    errors of each."""
    base = lighttpd(env)
    make_admin(env)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    # users
    u = ok(a.req("POST", "/api/v1/admin/users",
                 {"name": "ann", "password": "ann-pass-12", "daily_requests": 5,
                  "daily_tokens": 1000, "priority": 3, "max_concurrent": 2, "max_queued": 4}), 201)
    uid = u["id"]
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "ann"}), 409)
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "has space"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "bo", "password": "short"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "bo", "priority": "high"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "bo", "priority": "9" * 40}), 400)
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "bo", "password": "p" * 2000}), 400)
    ok(a.req("PUT", "/api/v1/admin/users/%d" % uid, {"priority": 7, "models": ["gpt-test"]}))
    users = {x["name"]: x for x in ok(a.req("GET", "/api/v1/admin/users"))}
    ann = users["ann"]
    assert (ann["priority"], ann["daily_requests"], ann["max_concurrent"], ann["max_queued"],
            ann["models"], ann["role"], ann["has_password"]) == (7, 5, 2, 4, ["gpt-test"],
                                                                  "user", True), ann
    assert_error(a.req("PUT", "/api/v1/admin/users/%d" % users[ADMIN]["id"], {"admin": 0}), 400)
    assert_error(a.req("PUT", "/api/v1/admin/users/999999", {"priority": 1}), 404)
    # keys: created for ann (shown once), listed by prefix, revoked once
    k = ok(a.req("POST", "/api/v1/admin/keys", {"user_id": uid, "name": "ci",
                                                 "models": ["gpt-test"],
                                                 "expires_at": "2099-12-31T23:59:59Z"}), 201)
    assert re.fullmatch(r"sk-[A-Za-z0-9]{43}", k["key"]) and k["prefix"] == k["key"][:12], k
    assert k["expires_at"] == "2099-12-31" and k["models"] == ["gpt-test"], k
    listed = ok(a.req("GET", "/api/v1/admin/keys?user_id=%d" % uid))
    assert [x["prefix"] for x in listed] == [k["prefix"]] and "key" not in listed[0], listed
    assert k["key"] not in a.req("GET", "/api/v1/admin/keys").text
    assert_error(a.req("POST", "/api/v1/admin/keys", {"user_id": 999999}), 404)
    assert_error(a.req("POST", "/api/v1/admin/keys", {"name": "x"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/keys", {"user_id": uid, "expires_at": "soon"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/keys", {"user_id": uid, "models": ["a;b"]}), 400)
    # the key works at the relay, and the call shows up in usage and requests
    r = env.http(base + "/api/call.php", method="POST", body=jbody(dict(OPENAI_REQ, model="gpt-test")),
                 headers={"Content-Type": "application/json", "X-API-Key": k["key"]})
    assert r.status == 200, r
    wait_logged(env, 1)
    usage = ok(a.req("GET", "/api/v1/admin/usage?days=7"))
    assert len(usage["days"]) == 7 and usage["days"][-1]["requests"] == 1, usage
    assert [x["user"] for x in usage["users"]] == ["ann"] and usage["models"][0]["model"] == "gpt-test"
    assert [(x["backend"], x["requests"]) for x in usage["backends"]] == [("default", 1)], usage
    page = a.req("GET", "/console/admin/usage")
    assert page.status == 200 and 'id="by-backend"' in page.text and "default" in page.text, page
    csv = a.req("GET", "/api/v1/admin/usage.csv?days=2")
    assert csv.status == 200 and "attachment" in csv.headers["content-disposition"], csv
    lines = csv.text.splitlines()
    assert lines[0] == "day,user,requests,tokens,errors" and lines[1].split(",")[1:3] == ["ann", "1"], lines
    ok(a.req("DELETE", "/api/v1/admin/keys/%d" % k["id"]))
    assert_error(a.req("DELETE", "/api/v1/admin/keys/%d" % k["id"]), 409)
    assert_error(a.req("DELETE", "/api/v1/admin/keys/999999"), 404)
    # queue: a waiting item is cancelled, then retried
    env.sql("INSERT INTO queue (user_id, key_id, format, model, body, status)"
            " VALUES (%d, %d, 'openai', 'gpt-test', '{}', 'waiting')" % (uid, k["id"]))
    qid = int(env.sql_value("SELECT MAX(id) FROM queue"))
    q = ok(a.req("GET", "/api/v1/admin/queue"))
    assert [(x["id"], x["status"], x["position"], x["user"]) for x in q] == [(qid, "waiting", 1, "ann")], q
    assert_error(a.req("POST", "/api/v1/admin/queue/%d/retry" % qid, {}), 404)
    ok(a.req("POST", "/api/v1/admin/queue/%d/cancel" % qid, {}))
    assert env.sql_value("SELECT status FROM queue WHERE id = %d" % qid) == "failed"
    assert_error(a.req("POST", "/api/v1/admin/queue/%d/cancel" % qid, {}), 404)
    ok(a.req("POST", "/api/v1/admin/queue/%d/retry" % qid, {}))
    assert env.sql_value("SELECT status FROM queue WHERE id = %d" % qid) == "waiting"
    env.sql("DELETE FROM queue")
    # a CSV cell never starts a formula
    ok(a.req("POST", "/api/v1/admin/users", {"name": "=cmd|'/c'!A1"}), 201)
    env.sql("INSERT INTO daily_usage (user_id, day, requests, tokens, errors) SELECT id, CURDATE(),"
            " 1, 1, 0 FROM users WHERE name LIKE '=%'")
    assert "'=cmd" in a.req("GET", "/api/v1/admin/usage.csv").text


def test_console_api_member_keys(env):
    """A member creates, lists and revokes their own keys; another member's
    key is 404 like a missing one; the queue shows a live position, and a
    member cancels their own waiting item but not another's."""
    base = lighttpd(env)
    make_admin(env, "m1", "m1-pass-123", admin=False)
    m2 = make_admin(env, "m2", "m2-pass-123", admin=False)
    c = Client(env, base)
    c.login("m1", "m1-pass-123")
    k = ok(c.req("POST", "/api/v1/user/keys", {"name": "laptop", "models": "gpt-test,gpt-4o"}), 201)
    assert k["models"] == ["gpt-test", "gpt-4o"] and k["user"] == "m1", k
    assert [x["prefix"] for x in ok(c.req("GET", "/api/v1/user/keys"))] == [k["prefix"]]
    env.sql("INSERT INTO api_keys (user_id, name, key_hash, key_prefix) VALUES"
            " (%d, 'theirs', REPEAT('a', 64), 'sk-theirs000')" % m2)
    other = int(env.sql_value("SELECT id FROM api_keys WHERE name = 'theirs'"))
    assert_error(c.req("DELETE", "/api/v1/user/keys/%d" % other), 404, "密钥不存在")
    assert_error(c.req("POST", "/api/v1/user/keys/%d/revoke" % other, {}), 404)
    assert env.sql_value("SELECT revoked_at IS NULL FROM api_keys WHERE id = %d" % other) == "1"
    ok(c.req("POST", "/api/v1/user/keys/%d/revoke" % k["id"], {}))
    keys = ok(c.req("GET", "/api/v1/user/keys"))
    assert keys[0]["active"] is False and keys[0]["revoked_at"], keys
    assert_error(c.req("POST", "/api/v1/user/keys", {"name": "x" * 65}), 400)
    # too long for its buffer or of the wrong type: refused, never taken for absent
    assert_error(c.req("POST", "/api/v1/user/keys", {"name": "x" * 5000}), 400)
    assert_error(c.req("POST", "/api/v1/user/keys", {"name": {"a": 1}}), 400)
    assert_error(c.req("POST", "/api/v1/user/keys", {"expires_at": "2099-12-31" * 10}), 400)
    assert_error(c.req("POST", "/api/v1/user/keys", {"models": [1, 2]}), 400)
    # usage with limits; queue with positions (one of m2's items ahead)
    m1 = int(env.sql_value("SELECT id FROM users WHERE name = 'm1'"))
    env.sql("INSERT INTO queue (user_id, key_id, format, model, body, status) VALUES"
            " (%d, 1, 'openai', 'a', '{}', 'waiting'), (%d, 1, 'openai', 'b', '{}', 'waiting')"
            % (m2, m1))
    q = ok(c.req("GET", "/api/v1/user/queue"))
    assert [(x["model"], x["position"], x["total_waiting"]) for x in q] == [("b", 2, 2)], q
    u = ok(c.req("GET", "/api/v1/user/usage?days=3"))
    assert len(u["days"]) == 3 and u["today"]["request_limit"] == 1000, u
    assert ok(c.req("GET", "/api/v1/user/requests")) == []
    # a member cancels their own waiting item (one log row, as an error);
    # another member's item is 404 like a missing one, and stays waiting
    theirs = int(env.sql_value("SELECT id FROM queue WHERE model = 'a'"))
    assert_error(c.req("POST", "/api/v1/user/queue/%d/cancel" % theirs, {}), 404)
    assert_error(c.req("DELETE", "/api/v1/user/queue/%d" % theirs), 404)
    assert env.sql_value("SELECT status FROM queue WHERE id = %d" % theirs) == "waiting"
    assert_error(c.req("POST", "/api/v1/user/queue/%d/cancel" % q[0]["id"], {}, csrf=False), 403)
    ok(c.req("POST", "/api/v1/user/queue/%d/cancel" % q[0]["id"], {}))
    assert env.sql("SELECT status, error_message FROM queue WHERE id = %d" % q[0]["id"]) == \
        [["failed", "cancelled by its member"]]
    assert env.sql("SELECT COUNT(*), MAX(error) FROM request_log WHERE queue_id = %d"
                   % q[0]["id"]) == [["1", "cancelled by its member"]]
    assert_error(c.req("POST", "/api/v1/user/queue/%d/cancel" % q[0]["id"], {}), 404)
    assert ok(c.req("GET", "/api/v1/user/queue")) == []
    assert env.sql_value("SELECT COUNT(*) FROM audit_log WHERE action = 'queue.cancel'"
                         " AND target = 'queue:%d'" % q[0]["id"]) == "1"
    assert [x["error"] for x in ok(c.req("GET", "/api/v1/user/requests"))] == \
        ["cancelled by its member"]
    # the page: a cancel button on the member's own waiting item only
    env.sql("INSERT INTO queue (user_id, key_id, format, model, body, status) VALUES"
            " (%d, 1, 'openai', 'c', '{}', 'waiting')" % m1)
    mine = int(env.sql_value("SELECT id FROM queue WHERE model = 'c'"))
    page = c.req("GET", "/console/queue")
    assert page.status == 200 and 'action="/console/queue/%d/cancel"' % mine in page.text, page
    assert "/console/queue/%d/cancel" % theirs not in page.text
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    r = c.req("POST", "/console/queue/%d/cancel" % theirs, ("csrf=%s" % c.csrf).encode(),
              raw=True, csrf=False, headers=hdr)
    assert r.status == 404 and "text/html" in r.headers["content-type"], r
    r = c.req("POST", "/console/queue/%d/cancel" % mine, ("csrf=%s" % c.csrf).encode(),
              raw=True, csrf=False, headers=hdr)
    assert r.status == 200 and "已取消" in r.text, r
    assert env.sql_value("SELECT status FROM queue WHERE id = %d" % mine) == "failed"
    env.sql("DELETE FROM queue")


def test_console_key_models_narrow_user(env):
    """Issue 25.2: a key's model list only narrows its user's. Asking for
    more at creation is refused, naming the models (console API 400, page
    400, relayctl exit 2); a key made before its user was narrowed is
    narrowed with it at request time. Before: 201 and the key called
    gpt-4-expensive with 200; after: 400 / exit 2 / 403."""
    base = lighttpd(env)
    make_admin(env, "alice", "alice-pass-1", admin=False)
    # keys made while alice may use everything
    r = env.relayctl("key", "create", "alice", "--models", "gpt-4-expensive,gpt-test")
    assert r.returncode == 0, r.stderr
    old = r.stdout.split()[-1]
    plain = env.relayctl("key", "create", "alice").stdout.split()[-1]
    assert env.relayctl("user", "set", "alice", "--models", "gpt-test").returncode == 0
    c = Client(env, base)
    c.login("alice", "alice-pass-1")
    j = assert_error(c.req("POST", "/api/v1/user/keys",
                           {"name": "x", "models": "gpt-4-expensive,claude-opus,gpt-test"}), 400)
    assert "gpt-4-expensive,claude-opus" in j["message"] and "gpt-test" not in j["message"], j
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    r = c.req("POST", "/console/keys", ("name=y&models=claude-opus&csrf=%s" % c.csrf).encode(),
              raw=True, csrf=False, headers=hdr)
    assert r.status == 400 and "claude-opus" in r.text, r
    r = env.relayctl("key", "create", "alice", "--models", "gpt-test,claude-opus")
    assert r.returncode == 2 and "claude-opus" in r.stderr and "gpt-test," not in r.stderr, r
    assert int(env.sql_value("SELECT COUNT(*) FROM api_keys")) == 2
    k = ok(c.req("POST", "/api/v1/user/keys", {"name": "z", "models": "gpt-test"}), 201)
    # at request time: every key of alice gets what both lists allow
    url = base + "/v1/chat/completions"
    for key in (old, plain, k["key"]):
        h = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
        r = env.http(url, "POST", h, jbody(dict(OPENAI_REQ, model="gpt-4-expensive")))
        assert r.status == 403 and r.json()["error"]["code"] == "model_not_allowed", r
        r = env.http(url, "POST", h, jbody(OPENAI_REQ))
        assert r.status == 200, r
    # the user's list widened again: the old key's own list holds
    assert env.relayctl("user", "set", "alice", "--models", "").returncode == 0
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + old}
    r = env.http(url, "POST", h, jbody(dict(OPENAI_REQ, model="gpt-4-expensive")))
    assert r.status == 200, r
    r = env.http(url, "POST", h, jbody(dict(OPENAI_REQ, model="claude-opus")))
    assert r.status == 403, r


def test_console_csrf(env):
    """A cookie session needs the CSRF token on every change (header for the
    API, form field for pages); a Bearer session does not (no browser sends
    one by itself)."""
    base = lighttpd(env)
    make_admin(env)
    c = Client(env, base)
    c.login(ADMIN, ADMIN_PW)
    assert_error(c.req("POST", "/api/v1/user/keys", {"name": "a"}, csrf=False), 403, "CSRF")
    assert_error(c.req("POST", "/api/v1/user/keys", {"name": "a"}, csrf=False,
                       headers={"X-CSRF-Token": "f" * 64}), 403, "CSRF")
    assert_error(c.req("POST", "/api/v1/auth/logout", {}, csrf=False), 403)
    ok(c.req("POST", "/api/v1/user/keys", {"name": "a"}), 201)
    # pages: the form field
    form = "name=b&csrf=%s" % c.csrf
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    r = c.req("POST", "/console/keys", b"name=b", raw=True, csrf=False, headers=hdr)
    assert r.status == 403 and "CSRF" in r.text and "text/html" in r.headers["content-type"], r
    r = c.req("POST", "/console/keys", form.encode(), raw=True, csrf=False, headers=hdr)
    assert r.status == 200 and 'id="newkey"' in r.text, r
    # the login form's own double-submit token
    r = env.http(base + "/console/login", method="POST", headers=hdr,
                 body=("name=%s&password=%s&csrf=%s" % (ADMIN, ADMIN_PW, "a" * 64)).encode())
    assert r.status == 403 and "relay_session=" not in json.dumps(r.raw_headers), r
    # Bearer: no CSRF token needed, and the cookie is not involved
    b = Client(env, base)
    b.bearer = c.token
    ok(b.req("POST", "/api/v1/user/keys", {"name": "c"}), 201)
    assert int(env.sql_value("SELECT COUNT(*) FROM api_keys")) == 3


def test_console_login_rate_limit(env):
    """Five wrong passwords for a name from one address refuse further
    logins of it from there (even right ones) with 429 until the delay has
    passed; a good login resets."""
    base = lighttpd(env)
    make_admin(env)
    c = Client(env, base)
    c.login(ADMIN, "wrong-one-1", expect=401)
    c.login(ADMIN, ADMIN_PW)                  # a success forgets the failures
    for _ in range(5):
        assert_error(c.req("POST", "/api/v1/auth/login", {"name": ADMIN, "password": "bad-pass-1"}),
                     401)
    assert_error(c.req("POST", "/api/v1/auth/login", {"name": ADMIN, "password": ADMIN_PW}),
                 429, "过多")
    # the page says so too
    r = env.http(base + "/console/login")
    tok = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text).group(1)
    ck = [v for k, v in r.raw_headers if k.lower() == "set-cookie"][0].split(";")[0]
    r = env.http(base + "/console/login", method="POST",
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": ck},
                 body=("name=%s&password=%s&csrf=%s" % (ADMIN, ADMIN_PW, tok)).encode())
    assert r.status == 429 and "过多" in r.text, r
    # the window passes (aged in the database: no waiting in tests)
    env.sql("UPDATE console_login_failures SET at = at - INTERVAL 1000 SECOND")
    c.login(ADMIN, ADMIN_PW)
    # the failed attempts never logged the password tried
    assert "bad-pass-1" not in env.logs(200) and ADMIN_PW not in env.logs(200)


def _login_from(env, addr, name, pw, extra=None):
    """POST /api/v1/auth/login as plain CGI from client address addr."""
    e = env.relay_env(REMOTE_ADDR=addr, **(extra or {}))
    return env.cgi("console", method="POST", uri="/api/v1/auth/login", env=e,
                   headers={"Content-Type": "application/json"},
                   body=jbody({"name": name, "password": pw}))


def test_console_login_no_lockout(env):
    """Issue 25.11: wrong passwords from one address do not lock the name
    out for its owner elsewhere. Before: after 30 failures for admin from
    127.0.0.2 the right password got 429 from every address; after: 5
    answered 401, the rest 429 from 127.0.0.2 only, 200 from another. The
    pair's wait grows with each failure past the limit; one address trying
    many names is stopped at CSESS_FAIL_PER_ADDR."""
    base = lighttpd(env)
    make_admin(env)
    got = [_login_from(env, "127.0.0.2", ADMIN, "wrong-%d" % i).status for i in range(30)]
    assert got == [401] * 5 + [429] * 25, got
    assert _login_from(env, "127.0.0.2", ADMIN, ADMIN_PW).status == 429
    Client(env, base).login(ADMIN, ADMIN_PW)          # lighttpd: 127.0.0.1
    assert _login_from(env, "127.0.0.3", ADMIN, ADMIN_PW).status == 200
    # growing delays: the pair waits 30 s after its 5th failure, 60 s after its 6th
    env.sql("UPDATE console_login_failures SET at = at - INTERVAL 31 SECOND")
    assert _login_from(env, "127.0.0.2", ADMIN, "wrong-x").status == 401
    env.sql("UPDATE console_login_failures SET at = at - INTERVAL 31 SECOND")
    assert _login_from(env, "127.0.0.2", ADMIN, ADMIN_PW).status == 429
    env.sql("UPDATE console_login_failures SET at = at - INTERVAL 30 SECOND")
    assert _login_from(env, "127.0.0.2", ADMIN, ADMIN_PW).status == 200
    # one address spraying names: stopped after 20 failures, others not
    got = [_login_from(env, "127.0.0.4", "nobody%d" % i, "wrong-pass").status
           for i in range(22)]
    assert got == [401] * 20 + [429] * 2, got
    assert _login_from(env, "127.0.0.4", ADMIN, ADMIN_PW).status == 429
    assert _login_from(env, "127.0.0.5", ADMIN, ADMIN_PW).status == 200


def test_console_login_parallel_tries(env):
    """Issue 25.11: the check and the record of a try are one step. Before:
    parallel wrong passwords all passed a check made before any was
    recorded (6 through a limit of 5); after: 20 at once, at most 5 reach
    the password check (401), the others 429."""
    from concurrent.futures import ThreadPoolExecutor
    lighttpd(env)
    make_admin(env)
    with ThreadPoolExecutor(20) as ex:
        got = list(ex.map(lambda i: _login_from(env, "127.0.0.6", ADMIN, "bad-%d" % i).status,
                          range(20)))
    assert sorted(got) == [401] * 5 + [429] * 15, got
    assert env.sql_value("SELECT COUNT(*) FROM console_login_failures WHERE kind = 'pair'") == "5"


def test_console_logout_and_expiry(env):
    """Logout ends the session (cookie cleared, token dead); an expired
    session, a password change and a disabled account end it too."""
    base = lighttpd(env)
    make_admin(env)
    make_admin(env, "mem", "mem-pass-123", admin=False)
    c = Client(env, base)
    r = c.login(ADMIN, ADMIN_PW)
    sc = [v for k, v in r.raw_headers if k.lower() == "set-cookie"][0]
    assert "HttpOnly" in sc and "SameSite=Strict" in sc and "Max-Age=43200" in sc, sc
    assert "Secure" not in sc                         # plain http
    tok = c.token
    ok(c.req("POST", "/api/v1/auth/logout", {}))
    assert c.cookie is None                           # Max-Age=0, value ""
    c.cookie = "relay_session=" + tok
    assert_error(c.req("GET", "/api/v1/auth/me"), 401)
    # expiry
    c = Client(env, base)
    c.login(ADMIN, ADMIN_PW)
    ok(c.req("GET", "/api/v1/auth/me"))
    env.sql("UPDATE console_sessions SET expires_at = NOW() - INTERVAL 1 SECOND")
    assert_error(c.req("GET", "/api/v1/auth/me"), 401)
    # the admin disables the member: the member's session ends at once
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    m = Client(env, base)
    m.login("mem", "mem-pass-123")
    mid = int(env.sql_value("SELECT id FROM users WHERE name = 'mem'"))
    ok(a.req("PUT", "/api/v1/admin/users/%d" % mid, {"enabled": False}))
    assert_error(m.req("GET", "/api/v1/auth/me"), 401)
    assert_error(m.req("POST", "/api/v1/auth/login", {"name": "mem", "password": "mem-pass-123"}),
                 403, "禁用")
    ok(a.req("PUT", "/api/v1/admin/users/%d" % mid, {"enabled": True}))
    m.login("mem", "mem-pass-123")
    ok(a.req("PUT", "/api/v1/admin/users/%d" % mid, {"password": "new-pass-456"}))
    assert_error(m.req("GET", "/api/v1/auth/me"), 401)
    m.login("mem", "mem-pass-123", expect=401)
    m.login("mem", "new-pass-456")
    # console_session_hours sets the lifetime (CGI with the setting)
    r = env.cgi("console", method="POST", uri="/api/v1/auth/login",
                headers={"Content-Type": "application/json"},
                body=jbody({"name": "mem", "password": "new-pass-456"}),
                env=env.relay_env(console_session_hours=2))
    assert r.status == 200 and r.json()["data"]["expires_in"] == 7200, r
    assert "Max-Age=7200" in r.headers["set-cookie"], r.headers
    left = int(env.sql_value("SELECT TIMESTAMPDIFF(MINUTE, NOW(), expires_at)"
                             " FROM console_sessions ORDER BY id DESC LIMIT 1"))
    assert 110 <= left <= 120, left
    # over HTTPS the cookie is Secure
    r = env.cgi("console", method="POST", uri="/api/v1/auth/login",
                headers={"Content-Type": "application/json"},
                body=jbody({"name": "mem", "password": "new-pass-456"}),
                env=env.relay_env(HTTPS="on"))
    assert "; Secure" in r.headers["set-cookie"], r.headers


def test_console_registration(env):
    """Self-registration is off by default (404); on, a new account waits
    for an admin's approval before it can log in."""
    base = lighttpd(env)
    make_admin(env)
    body = {"name": "newbie", "password": "newbie-pass-1"}
    assert_error(Client(env, base).req("POST", "/api/v1/auth/register", body), 404, "未开放注册")
    assert env.http(base + "/console/register").status == 404
    assert 'id="register"' not in env.http(base + "/console/login").text
    on = env.relay_env(registration_enabled=1)

    def cgi(path, b, method="POST"):
        return env.cgi("console", method=method, uri=path, env=on, body=jbody(b),
                       headers={"Content-Type": "application/json"})
    r = cgi("/api/v1/auth/register", body)
    assert r.status == 201 and "审核" in r.json()["data"]["message"], r
    assert_error(cgi("/api/v1/auth/register", body), 409)
    assert_error(cgi("/api/v1/auth/register", {"name": "x y", "password": "long-enough"}), 400)
    assert_error(cgi("/api/v1/auth/register", {"name": "shorty", "password": "short"}), 400)
    assert env.sql("SELECT enabled, pending, is_admin FROM users WHERE name = 'newbie'") == \
        [["0", "1", "0"]]
    assert_error(cgi("/api/v1/auth/login", body), 403, "审核")
    r = env.cgi("console", uri="/console/register", env=on)
    assert r.status == 200 and 'id="login-form"' in r.text, r
    # the admin approves through the API (the users page has a button for it)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    uid = int(env.sql_value("SELECT id FROM users WHERE name = 'newbie'"))
    pend = [x for x in ok(a.req("GET", "/api/v1/admin/users")) if x["name"] == "newbie"][0]
    assert pend["pending"] is True and pend["enabled"] is False, pend
    ok(a.req("PUT", "/api/v1/admin/users/%d" % uid, {"approve": 1}))
    r = cgi("/api/v1/auth/login", body)
    assert r.status == 200 and r.json()["data"]["user"]["role"] == "user", r
    acts = [(x[0], x[1], x[2]) for x in audit_rows(env)]
    assert ("", "user.register", "newbie") in acts and (ADMIN, "user.update", "user:%d" % uid) in acts


def test_console_registration_guard(env):
    """Issue 25.12: self-registration is rate-limited per address and
    refuses names that only look like an existing one. Before: 20 accounts
    from one address in 2.9 s, and Admin / Cyrillic admin registered;
    after: 5 per address per 15 minutes, then 429 (another address still
    registers), and look-alikes of root-admin are 409."""
    make_admin(env)

    def reg(addr, name, pw="long-enough-1"):
        e = env.relay_env(registration_enabled=1, REMOTE_ADDR=addr)
        return env.cgi("console", method="POST", uri="/api/v1/auth/register", env=e,
                       headers={"Content-Type": "application/json"},
                       body=jbody({"name": name, "password": pw}))
    got = [reg("127.0.0.7", "flood%s" % c).status for c in "abcdefg"]
    assert got == [201] * 5 + [429] * 2, got
    assert int(env.sql_value("SELECT COUNT(*) FROM users WHERE name LIKE 'flood%'")) == 5
    assert reg("127.0.0.8", "floodz").status == 201
    for i, name in enumerate(("Root-Admin", "ROOT-ADMIN", "r\u043e\u043et-\u0430dmin",
                              "r00t-admin", "root-ad\u200bmin", "\uff52oot-admin",
                              "Root-\u0410dmin")):
        r = reg("127.0.1.%d" % i, name)
        assert r.status == 409 and "相似" in r.json()["message"], (name, r)
    assert reg("127.0.0.9", "\u5f20\u4e09").status == 201
    assert reg("127.0.0.9", "root-admin2").status == 201
    assert int(env.sql_value("SELECT COUNT(*) FROM users WHERE name LIKE '%dmin%'")) == 2


def test_console_audit(env):
    """Every change through the console is one audit row: who, what, on
    what, when; passwords and keys never appear in it or in the logs."""
    base = lighttpd(env)
    make_admin(env)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    uid = ok(a.req("POST", "/api/v1/admin/users", {"name": "aud", "password": "aud-pass-123"}), 201)["id"]
    ok(a.req("PUT", "/api/v1/admin/users/%d" % uid, {"priority": 2, "password": "aud-pass-456"}))
    k = ok(a.req("POST", "/api/v1/admin/keys", {"user_id": uid, "name": "x"}), 201)
    k2 = ok(a.req("POST", "/api/v1/user/keys", {"name": "own"}), 201)
    ok(a.req("POST", "/api/v1/user/keys/%d/revoke" % k2["id"], {}))
    ok(a.req("DELETE", "/api/v1/admin/keys/%d" % k["id"]))
    env.sql("INSERT INTO queue (user_id, key_id, format, body, status) VALUES"
            " (%d, %d, 'openai', '{}', 'waiting')" % (uid, k["id"]))
    qid = int(env.sql_value("SELECT MAX(id) FROM queue"))
    ok(a.req("POST", "/api/v1/admin/queue/%d/cancel" % qid, {}))
    ok(a.req("POST", "/api/v1/admin/queue/%d/retry" % qid, {}))
    # a refused change is not logged as done
    assert_error(a.req("PUT", "/api/v1/admin/users/999999", {"priority": 1}), 404)
    ok(a.req("POST", "/api/v1/auth/logout", {}))
    rows = [r for r in audit_rows(env) if not r[0].startswith("relayctl:")]   # make_admin's
    got = [(r[0], r[1], r[2]) for r in rows]
    assert got == [
        (ADMIN, "login", ADMIN),
        (ADMIN, "user.create", "aud"),
        (ADMIN, "user.update", "user:%d" % uid),
        (ADMIN, "key.create", "key:%d user:%d" % (k["id"], uid)),
        (ADMIN, "key.create", "key:%d user:%d" % (k2["id"], k2["user_id"])),
        (ADMIN, "key.revoke", "key:%d" % k2["id"]),
        (ADMIN, "key.revoke", "key:%d" % k["id"]),
        (ADMIN, "queue.cancel", "queue:%d" % qid),
        (ADMIN, "queue.retry", "queue:%d" % qid),
        (ADMIN, "logout", ADMIN),
    ], got
    assert all(r[4] == "1" for r in rows)                     # every row has its time
    assert rows[2][3] == "priority=2 password", rows[2]       # what changed, not the password
    assert rows[3][3] == k["prefix"]                          # the key's prefix only
    # the API shows the same rows (newest first), the page too
    a.login(ADMIN, ADMIN_PW)
    api = ok(a.req("GET", "/api/v1/admin/audit?limit=3"))
    assert [x["action"] for x in api] == ["login", "logout", "queue.retry"], api
    assert api[0]["actor"] == ADMIN and api[0]["at"] and api[0]["addr"] == "127.0.0.1", api[0]
    page = a.req("GET", "/console/admin/audit")
    assert page.status == 200 and "queue.cancel" in page.text
    secrets = ["aud-pass-123", "aud-pass-456", ADMIN_PW, k["key"], k2["key"], a.token]
    blob = json.dumps(env.sql("SELECT * FROM audit_log")) + env.logs(400)
    for s in secrets:
        assert s not in blob, "a secret is in the audit log or the server logs"


def test_console_audit_relayctl(env):
    """Changes made with relayctl are audited too: actor relayctl:<unix
    user>, address "shell"; never the password or the key."""
    make_admin(env, "ctl-user", "ctl-pass-123")
    r = env.relayctl("key", "create", "ctl-user")
    key = r.stdout.strip().splitlines()[-1]
    env.relayctl("user", "set", "ctl-user", "--priority", "3", "--disable")
    env.sql("INSERT INTO queue (user_id, key_id, format, body, status) SELECT id, 1, 'openai',"
            " '{}', 'waiting' FROM users WHERE name = 'ctl-user'")
    qid = env.sql_value("SELECT MAX(id) FROM queue")
    assert env.relayctl("queue", "cancel", qid).returncode == 0
    assert env.relayctl("queue", "retry", qid).returncode == 0
    assert env.relayctl("key", "revoke", key[:12]).returncode == 0
    assert env.relayctl("user", "del", "ctl-user").returncode == 0
    rows = env.sql("SELECT actor_name, action, target, COALESCE(detail, ''), addr FROM audit_log"
                   " ORDER BY id")
    import pwd
    who = "relayctl:" + pwd.getpwuid(os.geteuid()).pw_name
    assert {r[0] for r in rows} == {who} and {r[4] for r in rows} == {"shell"}, rows
    acts = [r[1] for r in rows]
    assert acts == ["user.create", "user.passwd", "user.update", "key.create", "user.update",
                    "queue.cancel", "queue.retry", "key.revoke", "user.delete"], acts
    assert rows[2][3] == "admin=1" and rows[4][3] == "priority=3 enabled=0", rows
    blob = json.dumps(rows)
    assert "ctl-pass-123" not in blob and key not in blob and key[:12] in blob


def test_console_pages_escape(env):
    """Names from the database are escaped on every page that shows them."""
    base = lighttpd(env)
    make_admin(env)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    evil = '<b>x</b>"\'&'
    uid = ok(a.req("POST", "/api/v1/admin/users", {"name": evil}), 201)["id"]
    ok(a.req("POST", "/api/v1/admin/keys", {"user_id": uid, "name": "<i>key</i> & \"q\""}), 201)
    esc_user = "&lt;b&gt;x&lt;/b&gt;&quot;&#39;&amp;"
    for path in ("/console/admin/users", "/console/admin/users/%d" % uid, "/console/admin/keys"):
        r = a.req("GET", path)
        assert r.status == 200, (path, r)
        assert "<b>x</b>" not in r.text and "<i>key</i>" not in r.text, path
    assert esc_user in a.req("GET", "/console/admin/users").text or \
        "&lt;b&gt;x&lt;/b&gt;" in a.req("GET", "/console/admin/users").text
    assert "&lt;i&gt;key&lt;/i&gt; &amp;" in a.req("GET", "/console/admin/keys").text


def test_console_apache_and_cgi(env):
    """The same console behind Apache mod_fcgid and as plain CGI: login,
    a change with CSRF, a page; /v1 still reaches the SDK routes."""
    make_admin(env)
    env.start_apache()
    c = Client(env, env.apache_url)
    c.login(ADMIN, ADMIN_PW)
    assert ok(c.req("GET", "/api/v1/auth/me"))["user"]["name"] == ADMIN
    ok(c.req("POST", "/api/v1/user/keys", {"name": "via-apache"}), 201)
    assert_error(c.req("POST", "/api/v1/user/keys", {"name": "x"}, csrf=False), 403)
    r = c.req("GET", "/console/keys")
    assert r.status == 200 and "via-apache" in r.text, r
    r = env.http(env.apache_url + "/console")
    assert r.status == 303, r
    r = env.http(env.apache_url + "/v1/models")
    assert r.status == 401 and "error" in r.json(), r
    # Bearer through Apache (FcgidPassHeader Authorization)
    b = Client(env, env.apache_url)
    b.bearer = c.token
    assert ok(b.req("GET", "/api/v1/auth/me"))["user"]["name"] == ADMIN
    # plain CGI
    r = env.cgi("console", uri="/console/login")
    assert r.status == 200 and 'id="login-form"' in r.text, r
    assert_error(env.cgi("console", uri="/api/v1/auth/me"), 401)
    r = env.cgi("console", uri="/api/v1/auth/me", headers={"Cookie": c.cookie})
    assert r.status == 200 and r.json()["data"]["user"]["name"] == ADMIN, r


def test_console_make_run(env):
    """`make run` (tools/run.sh) serves the console and prints the first
    admin's login, which works; re-running keeps it."""
    from harness import free_port
    run_dir = os.path.join(env.tmp, "demo-console")
    port = free_port()
    e = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    e.update(RELAY_RUN_DIR=run_dir, PORT=str(port), RELAY_NO_BUILD="1")
    base = "http://127.0.0.1:%d" % port
    try:
        r = subprocess.run(["sh", "tools/run.sh", "start"], cwd=ROOT, env=e, capture_output=True,
                           text=True, timeout=180)
        assert r.returncode == 0, (r.stdout, r.stderr)
        m = re.search(r"web console: (http://\S+/console/) +admin / (\S+)", r.stdout)
        assert m and m.group(1) == base + "/console/", r.stdout
        c = Client(env, base)
        c.login("admin", m.group(2))
        assert ok(c.req("GET", "/api/v1/auth/me"))["user"]["role"] == "admin"
        assert c.req("GET", "/console/admin/users").status == 200
        r2 = subprocess.run(["sh", "tools/run.sh", "start"], cwd=ROOT, env=e, capture_output=True,
                            text=True, timeout=180)
        assert r2.returncode == 0 and "admin / %s" % m.group(2) in r2.stdout, r2.stdout
        Client(env, base).login("admin", m.group(2))
    finally:
        subprocess.run(["sh", "tools/run.sh", "stop"], cwd=ROOT, env=e, capture_output=True,
                       timeout=120)


test_console_make_run.timeout = 240


def test_console_backends(env):
    """Admins manage the pool's backends from the console (API and pages):
    add from a preset or a URL with a key that never comes back (last 4
    only, sealed in the database, not in the audit), change slots and
    mapping, test against a live and a dead upstream, enable/disable,
    delete; the default backend is listed but changed only in relay.conf;
    members get 403; bad input a clear 400/404/409."""
    secret = "sk-console-upstream-SECRET-9z8y"
    up = env.start_extra_mock("console-a")
    base = lighttpd(env)
    make_admin(env)
    make_admin(env, "m1", "m1-pass-123", admin=False)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    rows = ok(a.req("GET", "/api/v1/admin/backends"))
    assert [(x["id"], x["name"], x["base_url"]) for x in rows] == [(0, "default", "(relay.conf)")]
    assert any(p["name"] == "deepseek" for p in ok(a.req("GET", "/api/v1/admin/backends/presets")))
    b = ok(a.req("POST", "/api/v1/admin/backends",
                 {"name": "alpha", "format": "openai", "url": up + "/v1", "key": secret,
                  "slots": 3, "weight": 2, "priority": 4, "models": "gpt-*",
                  "model_map": "gpt-x=gpt-4o"}), 201)
    assert (b["name"], b["slots"], b["weight"], b["priority"], b["models"], b["model_map"],
            b["key_last4"], b["state"], b["slots_in_use"]) == \
        ("alpha", 3, 2, 4, ["gpt-*"], "gpt-x=gpt-4o", "9z8y", "ok", 0), b
    bid = b["id"]
    ok(a.req("POST", "/api/v1/admin/backends", {"name": "ds", "preset": "deepseek"}), 201)
    # issue 26: whether each serves /responses (the preset says so for ds)
    resp = {x["name"]: x["responses"] for x in ok(a.req("GET", "/api/v1/admin/backends"))}
    assert resp == {"default": "auto", "alpha": "auto", "ds": "yes"}, resp
    # errors: taken, bad numbers, bad format, unknown, the default, members
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "alpha", "format": "openai",
                                                          "url": up + "/v1"}), 409)
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "format": "openai",
                                                          "url": up, "slots": 0}), 400)
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "format": "soap",
                                                          "url": up}), 400)
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "slots": {"a": 1}}), 400)
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "format": "openai",
                                                          "url": up, "priority": -1}), 400)
    assert_error(a.req("PUT", "/api/v1/admin/backends/999999", {"slots": 2}), 404)
    assert_error(a.req("PUT", "/api/v1/admin/backends/0", {"slots": 2}), 400)
    assert_error(a.req("DELETE", "/api/v1/admin/backends/0"), 400)
    assert ok(a.req("POST", "/api/v1/admin/backends/0/test", {}))["ok"] is True
    m = Client(env, base)
    m.login("m1", "m1-pass-123")
    assert_error(m.req("GET", "/api/v1/admin/backends"), 403)
    assert_error(m.req("POST", "/api/v1/admin/backends", {"name": "evil"}), 403)
    # change, test (live), disable/enable
    b = ok(a.req("PUT", "/api/v1/admin/backends/%d" % bid, {"slots": 5, "model_map": ""}))
    assert (b["slots"], b["model_map"], b["key_last4"]) == (5, None, "9z8y"), b
    t = ok(a.req("POST", "/api/v1/admin/backends/%d/test" % bid, {}))
    assert t["ok"] is True and t["status"] == 200, t
    assert any(header(r, "Authorization") == "Bearer " + secret
               for r in env.mock_requests_at(up)), "the test used the backend's own key"
    assert ok(a.req("POST", "/api/v1/admin/backends/%d/disable" % bid, {}))["enabled"] is False
    assert ok(a.req("POST", "/api/v1/admin/backends/%d/enable" % bid, {}))["state"] == "ok"
    # a dead upstream: the test says so, and the backend's last error shows it
    dead = ok(a.req("POST", "/api/v1/admin/backends",
                    {"name": "dead", "format": "openai", "url": "http://127.0.0.1:%d/v1"
                     % free_port()}), 201)
    t = ok(a.req("POST", "/api/v1/admin/backends/%d/test" % dead["id"], {}))
    assert t["ok"] is False and t["error"], t
    # pages: the list, an edit form, a form post with the CSRF field
    page = a.req("GET", "/console/admin/backends")
    assert page.status == 200 and 'id="backends"' in page.text and "alpha" in page.text, page
    assert 'action="/console/admin/backends/%d/test"' % bid in page.text
    edit = a.req("GET", "/console/admin/backends/%d" % bid)
    assert edit.status == 200 and 'id="backend-edit"' in edit.text, edit
    assert a.req("GET", "/console/admin/backends/0").status == 404
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    form = urllib.parse.urlencode({"csrf": a.csrf, "format": "", "url": "", "auth": "",
                                   "key": "", "slots": "2", "weight": "1", "priority": "",
                                   "models": "gpt-*",
                                   "model_map": "", "mode": "pass", "enabled": "1"})
    r = a.req("POST", "/console/admin/backends/%d" % bid, form.encode(), raw=True, csrf=False,
              headers=hdr)
    assert r.status == 200 and "上游已更新" in r.text, r
    assert env.sql("SELECT slots, priority, key_last4 FROM backends WHERE id = %d" % bid) \
        == [["2", "4", "9z8y"]]
    r = a.req("POST", "/console/admin/backends/%d/delete" % dead["id"],
              ("csrf=%s" % a.csrf).encode(), raw=True, csrf=False, headers=hdr)
    assert r.status == 200 and "上游已删除" in r.text, r
    ok(a.req("DELETE", "/api/v1/admin/backends/%d" % bid))
    assert_error(a.req("DELETE", "/api/v1/admin/backends/%d" % bid), 404)
    # the key: sealed in the table, never in a listing, a page or the audit
    assert env.sql_value("SELECT COUNT(*) FROM backends WHERE key_sealed LIKE '%%SECRET%%'") == "0"
    everything = (a.req("GET", "/api/v1/admin/backends").text + page.text + edit.text +
                  json.dumps(audit_rows(env)))
    assert secret not in everything
    acts = [r[1] for r in audit_rows(env) if r[1].startswith("backend.")]
    assert acts[:2] == ["backend.create", "backend.create"] and "backend.test" in acts \
        and "backend.delete" in acts, acts



def test_console_requests_show_estimated_usage(env):
    """issue 25 point 8: a row metered with the relay's estimate
    (usage_known = 2) is marked as such in the requests list (API and
    page); reported and missing usage are told apart too."""
    uid = make_admin(env, "est", "est-pass-123", admin=False)
    for kn in (0, 1, 2):
        env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, http_status,"
                " total_tokens, usage_known, day) VALUES (%d, 0, 'chat', 'openai', 'm%d', 200,"
                " 5, %d, CURDATE())" % (uid, kn, kn))
    c = Client(env, lighttpd(env))
    c.login("est", "est-pass-123")
    rows = ok(c.req("GET", "/api/v1/user/requests"))
    assert [(x["model"], x["usage"]) for x in rows] == \
        [("m2", "estimated"), ("m1", "reported"), ("m0", "none")], rows
    page = c.req("GET", "/console/requests")
    assert page.status == 200 and "estimated" in page.body.decode(), page.body[:300]
