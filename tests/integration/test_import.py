"""Keeping the old platform's keys (issue 31): relayctl key import (the key
on stdin) and relayctl import FILE (CSV or JSON lines, all or nothing,
--dry-run). Imported keys authenticate like generated ones on call.php and
/v1, on the fast path (a user without limits) and the limited one."""
import json
import os

from common import OPENAI_REQ, call, jbody, req, wait_until

# keys of shapes the old platform may have issued: short, long, punctuated
SHORT = "old-key-12345678"                                   # 16 characters
LONG = "sk-" + "AbC9_-.~+/=" * 22 + "xyz"                    # 248 characters
ODD = "key with inner spaces & \"quotes\", commas 'too'"


def _counts(env):
    return [env.sql_value("SELECT COUNT(*) FROM %s" % t)
            for t in ("users", "api_keys", "audit_log")]


def _import_key(env, name, key, *opts):
    return env.relayctl("key", "import", name, *opts, input=key + "\n")


def _v1(env, key):
    return env.http(env.lighttpd_url + "/v1/chat/completions", method="POST",
                    headers={"Authorization": "Bearer " + key,
                             "Content-Type": "application/json"}, body=jbody(OPENAI_REQ))


def _no_key_leaked(env, keys):
    parts = env.logs(lines=100000).split("==> ")
    parts.append(json.dumps(env.sql("SELECT * FROM audit_log")))
    parts.append(json.dumps(env.sql("SELECT key_prefix, name FROM api_keys")))
    for k in keys:
        for p in parts:
            assert k not in p, "a key leaked: " + p[:200]


def test_key_import_authenticates_fast_and_limited(env):
    env.relayctl("user", "add", "fast", "--daily-requests", "0", "--daily-tokens", "0")
    env.relayctl("user", "add", "slow", "--daily-requests", "5")
    for name, key in (("fast", SHORT), ("fast", LONG), ("slow", ODD)):
        r = _import_key(env, name, key)
        assert r.returncode == 0, r.stderr
        assert key not in r.stdout and key not in r.stderr
    # stored hashed, the visible prefix at most a quarter of the key
    assert env.sql_value("SELECT key_prefix FROM api_keys WHERE user_id ="
                         " (SELECT id FROM users WHERE name='slow')") == ODD[:11]
    assert env.sql_value("SELECT COUNT(*) FROM api_keys WHERE key_prefix = 'old-'") == "1"
    env.start_lighttpd()
    for key, user in ((SHORT, "fast"), (LONG, "fast"), (ODD, "slow")):
        r = call(env, req(), key)
        assert r.status == 200, (user, r.body)
        r = _v1(env, key)
        assert r.status == 200, (user, r.body)
    # the metering row follows the answer: wait for the rows, not a time
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log") == "6",
               what="6 request_log rows")
    rows = env.sql("SELECT u.name, COUNT(*) FROM request_log l JOIN users u ON u.id = l.user_id"
                   " GROUP BY u.name ORDER BY u.name")
    assert rows == [["fast", "4"], ["slow", "2"]], rows
    # a revoked imported key is refused like a generated one
    r = env.relayctl("key", "revoke", "old-")
    assert r.returncode == 2      # 4 characters: too short to name a key
    r = env.relayctl("key", "revoke", SHORT)
    assert r.returncode == 0, r.stderr
    assert call(env, req(), SHORT).status == 401
    _no_key_leaked(env, (SHORT, LONG, ODD))


def test_key_import_refusals_write_nothing(env):
    env.relayctl("user", "add", "alice")
    env.relayctl("user", "add", "bob")
    assert _import_key(env, "alice", SHORT).returncode == 0
    before = _counts(env)
    # another user's key: refused without naming whose
    r = _import_key(env, "bob", SHORT)
    assert r.returncode == 1 and "already in use" in r.stderr, r.stderr
    assert "alice" not in r.stderr + r.stdout
    for bad in ("x" * 15, "x" * 257, "ключ-ключ-ключ-ключ", "tab\there-1234567890",
                " leading-space-12345", "trailing-space-12345 ", ""):
        r = _import_key(env, "bob", bad)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        assert not bad.strip() or bad not in r.stderr
    # the key as an argument (where ps shows it) is refused, not echoed
    # (a key of its own: the harness's log records the argv it ran)
    argv_key = "given-as-an-argument-0123456789"
    r = env.relayctl("key", "import", "bob", argv_key, input=argv_key + "\n")
    assert r.returncode == 2 and argv_key not in r.stderr + r.stdout, r.stderr
    r = env.relayctl("key", "import", "bob", input="")
    assert r.returncode == 2 and "stdin" in r.stderr
    assert _import_key(env, "nobody", LONG).returncode == 1
    assert env.relayctl("key", "import", "bob", "--expires", "2026-02-30",
                        input=LONG + "\n").returncode == 2
    assert _counts(env) == before


CSV = (
    "name,key,daily_requests,daily_tokens,priority,models,expires\n"
    "carol,%s,0,0,5,,\n"
    "# a comment line\n"
    "\n"
    "dave,\"%s\",7,1000,-1,\"gpt-test, claude-test\",2099-12-31\n"
    "dave,%s,,,,,\n"
) % (SHORT, ODD.replace('"', '""'), LONG)

JSONL = "\n".join(json.dumps(o) for o in (
    {"name": "erin", "key": SHORT, "daily_requests": 0, "daily_tokens": 0, "priority": 2},
    {"name": "frank", "key": LONG, "daily_requests": 3, "models": ["gpt-test"],
     "expires": "2099-01-01", "enabled": True},
)) + "\n"


def _write(env, name, text):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_import_csv_dry_run_then_real(env):
    path = _write(env, "users.csv", CSV)
    before = _counts(env)
    r = env.relayctl("import", path, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "create user 'carol'" in r.stdout and "create user 'dave'" in r.stdout
    assert "update user 'dave'" not in r.stdout and r.stdout.count("add key") == 3
    assert "dry run: nothing written" in r.stdout
    assert _counts(env) == before
    r = env.relayctl("import", path)
    assert r.returncode == 0, r.stderr
    rows = env.sql("SELECT name, daily_requests, daily_tokens, priority, COALESCE(models, '')"
                   " FROM users ORDER BY name")
    assert rows == [["carol", "0", "0", "5", ""],
                    ["dave", "7", "1000", "-1", "gpt-test,claude-test"]], rows
    assert env.sql("SELECT u.name, COALESCE(k.expires_at, '') FROM api_keys k JOIN users u"
                   " ON u.id = k.user_id ORDER BY k.id") == [
        ["carol", ""], ["dave", "2099-12-31"], ["dave", ""]]
    env.start_lighttpd()
    for key in (SHORT, ODD, LONG):
        assert call(env, req(), key).status == 200
        assert _v1(env, key).status == 200
    _no_key_leaked(env, (SHORT, LONG, ODD))
    # the same file again: every key is now in use, nothing changes
    before = _counts(env)
    r = env.relayctl("import", path)
    assert r.returncode == 1 and r.stderr.count("already in use") == 3, r.stderr
    assert _counts(env) == before


def test_import_jsonl_from_stdin(env):
    r = env.relayctl("import", "-", input=JSONL)
    assert r.returncode == 0, r.stderr
    assert env.sql("SELECT name, daily_requests, priority, COALESCE(models, ''), enabled"
                   " FROM users ORDER BY name") == [
        ["erin", "0", "2", "", "1"], ["frank", "3", "0", "gpt-test", "1"]]
    env.start_lighttpd()
    for key in (SHORT, LONG):
        assert call(env, req(), key).status == 200
        assert _v1(env, key).status == 200


def test_import_bad_files_write_nothing(env):
    env.relayctl("user", "add", "alice")
    assert _import_key(env, "alice", SHORT).returncode == 0
    before = _counts(env)
    cases = {
        "dup in file": "name,key\nx1,%s\nx2,%s\n" % (LONG, LONG),
        "dup in db": "name,key\nx1,%s\nx2,%s\n" % (LONG, SHORT),
        "bad number": "name,key,daily_requests\nx1,%s,-5\n" % LONG,
        "unknown column": "name,key,colour\nx1,%s,red\n" % LONG,
        "no name column": "user,key\nx1,%s\n" % LONG,
        "unclosed quote": "name,key\nx1,\"%s\n" % LONG,
        "field count": "name,key\nx1,%s,extra\n" % LONG,
        "short key": "name,key\nx1,short\n",
        "bad date": "name,key,expires\nx1,%s,2026-13-01\n" % LONG,
        "bad json": '{"name": "x1", "key": "%s"}\n{"name": \n' % LONG,
        "json no name": '{"key": "%s"}\n' % LONG,
        "empty": "\n\n",
        "header only": "name,key\n",
    }
    for what, text in cases.items():
        for dry in ((), ("--dry-run",)):
            r = env.relayctl("import", _write(env, "bad.txt", text), *dry)
            assert r.returncode == 1, (what, r.returncode, r.stdout, r.stderr)
            assert "nothing written" in r.stderr or "empty" in r.stderr or "no rows" in r.stderr, \
                (what, r.stderr)
            assert LONG not in r.stderr + r.stdout and SHORT not in r.stderr + r.stdout
            assert "alice" not in r.stderr, (what, r.stderr)
            assert _counts(env) == before, what
    r = env.relayctl("import", "dup.csv", "extra")
    assert r.returncode == 2
    r = env.relayctl("import", os.path.join(env.tmp, "missing.csv"))
    assert r.returncode == 1


def test_console_admin_import(env):
    """POST /api/v1/admin/import: the same file as the "file" member, the
    same code as relayctl; admins only, CSRF checked, audited as the admin."""
    from test_console import ADMIN, ADMIN_PW, Client, make_admin, ok
    from common import assert_error
    env.start_lighttpd()
    make_admin(env)
    a = Client(env, env.lighttpd_url)
    a.login(ADMIN, ADMIN_PW)
    before = _counts(env)
    d = ok(a.req("POST", "/api/v1/admin/import", {"file": JSONL, "dry_run": True}))
    assert d["dry_run"] is True and d["rows"] == 2, d
    assert any("create user 'erin'" in l for l in d["report"]), d
    assert _counts(env) == before
    r = a.req("POST", "/api/v1/admin/import", {"file": JSONL}, csrf=False)
    assert r.status == 403 and _counts(env) == before
    d = ok(a.req("POST", "/api/v1/admin/import", {"file": JSONL}))
    assert d["dry_run"] is False and d["rows"] == 2
    for key in (SHORT, LONG):
        assert call(env, req(), key).status == 200
        assert _v1(env, key).status == 200
    assert env.sql_value("SELECT COUNT(*) FROM audit_log WHERE action = 'key.import'"
                         " AND actor_name = '%s'" % ADMIN) == "2"
    before = _counts(env)
    r = a.req("POST", "/api/v1/admin/import", {"file": JSONL})
    assert_error(r, 400, "already in use")
    assert_error(a.req("POST", "/api/v1/admin/import", {"file": "name,colour\nx,red\n"}), 400,
                 "unknown column")
    assert_error(a.req("POST", "/api/v1/admin/import", {"nofile": 1}), 400)
    assert _counts(env) == before
    _no_key_leaked(env, (SHORT, LONG))
    # a member may not import
    env.relayctl("user", "add", "member")
    env.relayctl("user", "passwd", "member", input="member-pass-1\n")
    m = Client(env, env.lighttpd_url)
    m.login("member", "member-pass-1")
    assert m.req("POST", "/api/v1/admin/import", {"file": JSONL}).status == 403


def test_console_import_page(env):
    """/console/admin/import: the form (CSRF token) runs the same import;
    the report is escaped and the file (its keys) never shown back."""
    import urllib.parse
    from test_console import ADMIN, ADMIN_PW, Client, make_admin
    env.start_lighttpd()
    make_admin(env)
    a = Client(env, env.lighttpd_url)
    a.login(ADMIN, ADMIN_PW)
    page = a.req("GET", "/console/admin/import")
    assert page.status == 200 and 'id="import-form"' in page.text, page
    assert 'href="/console/admin/import"' in page.text          # in the navigation
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    text = "name,key\n<b>x</b>,%s\n" % SHORT

    def post(extra, csrf=True):
        form = {"file": text}
        form.update(extra)
        if csrf:
            form["csrf"] = a.csrf
        return a.req("POST", "/console/admin/import", urllib.parse.urlencode(form).encode(),
                     raw=True, csrf=False, headers=hdr)
    before = _counts(env)
    assert post({"dry_run": "1"}, csrf=False).status == 403
    r = post({"dry_run": "1"})
    assert r.status == 200 and "dry run" in r.text, r
    assert "&lt;b&gt;x&lt;/b&gt;" in r.text and "<b>x</b>" not in r.text
    assert SHORT not in r.text and _counts(env) == before
    r = post({})
    assert r.status == 200 and "已导入" in r.text, r
    assert SHORT not in r.text
    assert call(env, req(), SHORT).status == 200
    before = _counts(env)
    r = post({})
    assert r.status == 400 and "already in use" in r.text and SHORT not in r.text, r
    assert _counts(env) == before
