"""Foundation (issue 2): migrations, relayctl, configuration errors."""
import os
import re

from harness import ROOT

from common import assert_error


def test_migrate_is_idempotent(env):
    r = env.relayctl("migrate")
    assert r.returncode == 0, r.stderr
    assert "0 migration(s) applied now" in r.stdout
    tables = {row[0] for row in env.sql("SHOW TABLES")}
    for t in ("users", "api_keys", "daily_usage", "queue", "request_log", "schema_migrations",
              "schema_routines"):
        assert t in tables, tables
    n = len([f for f in os.listdir(os.path.join(ROOT, "sql", "schema")) if f.endswith(".sql")])
    assert env.sql_value("SELECT COUNT(*) FROM schema_migrations") == str(n)
    assert "0 routine(s) applied now" in r.stdout


def test_user_lifecycle(env):
    r = env.relayctl("user", "add", "alice")
    assert r.returncode == 0, r.stderr
    row = env.sql("SELECT daily_requests, daily_tokens, priority, enabled FROM users WHERE name='alice'")
    assert row == [["1000", "100000", "0", "1"]], row      # the seed's defaults
    r = env.relayctl("user", "add", "bob", "--daily-requests", "0", "--daily-tokens", "5",
                     "--priority", "7")
    assert r.returncode == 0, r.stderr
    assert env.sql("SELECT daily_requests, daily_tokens, priority FROM users WHERE name='bob'") == [["0", "5", "7"]]
    r = env.relayctl("user", "set", "bob", "--priority", "-3", "--disable")
    assert r.returncode == 0, r.stderr
    assert env.sql("SELECT priority, enabled FROM users WHERE name='bob'") == [["-3", "0"]]
    r = env.relayctl("user", "set", "bob", "--enable")
    assert env.sql("SELECT enabled, daily_tokens FROM users WHERE name='bob'") == [["1", "5"]]
    r = env.relayctl("user", "list")
    assert r.returncode == 0 and "alice" in r.stdout and "bob" in r.stdout and "unlimited" in r.stdout
    r = env.relayctl("user", "del", "bob")
    assert r.returncode == 0
    assert env.sql("SELECT COUNT(*) FROM users WHERE name='bob'") == [["0"]]


def test_relayctl_bad_input(env):
    env.relayctl("user", "add", "alice")
    cases = [
        (("user", "add", "alice"), 1),                        # exists
        (("user", "set", "nobody", "--priority", "1"), 1),    # unknown user
        (("user", "del", "nobody"), 1),
        (("key", "create", "nobody"), 1),
        (("key", "revoke", "sk-doesnotexist"), 1),
        (("queue", "cancel", "999"), 1),
        ((), 2),
        (("frobnicate",), 2),
        (("user",), 2),
        (("user", "add", "x", "--daily-requests", "abc"), 2),
        (("user", "add", "x", "--daily-requests", "-1"), 2),
        (("user", "add", "x", "--priority"), 2),
        (("user", "add", "has space"), 2),
        (("user", "add", "x" * 65), 2),
        (("user", "set", "alice"), 2),
        (("key", "create", "alice", "--expires", "2026-02-30"), 2),
        (("key", "create", "alice", "--expires", "tomorrow"), 2),
        (("usage", "--day", "20260101"), 2),
        (("queue", "cancel", "abc"), 2),
        (("migrate", "extra"), 2),
    ]
    for args, code in cases:
        r = env.relayctl(*args)
        assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr.strip(), args
        assert "Sanitizer" not in r.stderr
    # hostile names are data, never SQL
    for name in ["a'b", "x';DROP/**/TABLE/**/users;--", "名字", 'q"uote']:
        r = env.relayctl("user", "add", name)
        assert r.returncode == 0, (name, r.stderr)
        assert env.sql_value("SELECT COUNT(*) FROM users WHERE name = '%s'" % name.replace("'", "''")) == "1"
    assert env.sql_value("SELECT COUNT(*) FROM users") == "5"


def test_keys_hashed_listed_revoked(env):
    key = env.add_user("carol")
    assert re.fullmatch(r"sk-[0-9A-Za-z]{43}", key), key
    key2 = env.add_user("dave")
    assert key != key2
    # only the hash is stored: the key appears nowhere in a full dump
    dump = env.sql("SELECT * FROM api_keys") + env.sql("SELECT * FROM users")
    flat = repr(dump)
    assert key not in flat and key[3:] not in flat
    import hashlib
    h = hashlib.sha256(key.encode()).hexdigest()
    assert env.sql_value("SELECT COUNT(*) FROM api_keys WHERE key_hash = '%s'" % h) == "1"
    r = env.relayctl("key", "list", "carol")
    assert r.returncode == 0 and key[:12] in r.stdout and "dave" not in r.stdout
    assert key not in r.stdout
    r = env.relayctl("key", "revoke", key[:12])
    assert r.returncode == 0, r.stderr
    assert "revoked" in env.relayctl("key", "list", "carol").stdout
    r = env.relayctl("key", "revoke", key[:12])      # already revoked
    assert r.returncode == 1
    r = env.relayctl("key", "create", "carol", "--expires", "2099-12-31")
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("sk-")


def test_usage_report(env):
    env.add_user("erin", daily_requests=10)
    uid = env.sql_value("SELECT id FROM users WHERE name='erin'")
    env.sql("INSERT INTO daily_usage (user_id, day, requests, tokens, errors) VALUES (%s, CURDATE(), 3, 1234, 1)" % uid)
    env.sql("INSERT INTO daily_usage (user_id, day, requests, tokens, errors) VALUES (%s, '2026-01-02', 9, 99, 0)" % uid)
    r = env.relayctl("usage")
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.splitlines() if l.startswith("erin")][0]
    assert "3/10" in line and "1234/100000" in line, line
    r = env.relayctl("usage", "--day", "2026-01-02")
    line = [l for l in r.stdout.splitlines() if l.startswith("erin")][0]
    assert "9/10" in line and "99/" in line, line


def test_config_errors(env):
    bad = os.path.join(env.tmp, "bad.conf")
    cases = [
        ("db_name = x\nfrobnicate = 1\n", "bad.conf:2", "frobnicate"),
        ("request_timeout = abc\n", "bad.conf:1", "request_timeout"),
        ("request_timeout = 0\n", "bad.conf:1", "request_timeout"),
        ("ssl_verify = maybe\n", "bad.conf:1", "ssl_verify"),
        ("just a line\n", "bad.conf:1", ""),
    ]
    for text, where, key in cases:
        with open(bad, "w") as f:
            f.write(text)
        os.chmod(bad, 0o644)
        e = env.relay_env(RELAY_CONFIG=bad)
        r = env.relayctl("user", "list", env=e)
        assert r.returncode == 2, (text, r.returncode, r.stderr)
        assert where in r.stderr and key in r.stderr, r.stderr
        for prog in ("status", "call", "queue_status"):
            resp = env.cgi(prog, method="POST" if prog == "call" else "GET", env=e,
                           query="queue_id=1", body=b'{"model":"m","messages":[]}',
                           headers={"Content-Type": "application/json"})
            j = assert_error(resp, 500)
            assert where in j["message"] and key in j["message"], j
    # an explicitly named file that does not exist
    e = env.relay_env(RELAY_CONFIG=os.path.join(env.tmp, "missing.conf"))
    r = env.relayctl("user", "list", env=e)
    assert r.returncode == 2 and "missing.conf" in r.stderr
    assert_error(env.cgi("status", env=e), 500, "missing.conf")
    # a bad environment value names the variable
    r = env.relayctl("user", "list", env=env.relay_env(RELAY_UPSTREAM_SLOTS="many"))
    assert r.returncode == 2 and "RELAY_UPSTREAM_SLOTS" in r.stderr, r.stderr


def test_config_file_and_env_override(env):
    path = env.write_config(request_timeout="77")
    e = env.relay_env(RELAY_CONFIG=path)
    for k in list(e):
        if k.startswith("RELAY_") and k != "RELAY_CONFIG":
            del e[k]
    j = env.cgi("status", env=e).json()
    assert j["config"]["request_timeout"] == 77 and j["checks"]["database"]["status"] == "connected", j
    e["RELAY_REQUEST_TIMEOUT"] = "12"          # the environment wins
    assert env.cgi("status", env=e).json()["config"]["request_timeout"] == 12


def test_model_allow_lists(env):
    """relayctl key create --models, user add/set --models; key list shows
    the list in force and the expiry; the routes enforce it (issue 11)."""
    from common import ANTHROPIC_REQ, jbody
    assert env.relayctl("user", "add", "mia", "--models", "m-user").returncode == 0
    # a key's list only narrows its user's (issue 25.2): more is exit 2
    r = env.relayctl("key", "create", "mia", "--models", "m-a, m-b,m-a", "--expires", "2099-12-31")
    assert r.returncode == 2 and "m-a,m-b" in r.stderr, r.stderr
    assert env.relayctl("user", "set", "mia", "--models", "m-user,m-a,m-b").returncode == 0
    r = env.relayctl("key", "create", "mia", "--models", "m-a, m-b,m-a", "--expires", "2099-12-31")
    assert r.returncode == 0, r.stderr
    kkey = r.stdout.strip().splitlines()[-1]
    ukey = env.relayctl("key", "create", "mia").stdout.strip().splitlines()[-1]
    assert env.sql("SELECT models FROM api_keys WHERE key_prefix = '%s'" % kkey[:12]) == [["m-a,m-b"]]
    assert env.sql_value("SELECT models FROM users WHERE name = 'mia'") == "m-user,m-a,m-b"
    out = env.relayctl("key", "list", "mia").stdout
    lines = {l.split()[0]: l for l in out.splitlines()[1:]}
    assert "2099-12-31" in lines[kkey[:12]] and \
        lines[kkey[:12]].rstrip().endswith("m-a,m-b (within user: m-user,m-a,m-b)"), out
    assert "never" in lines[ukey[:12]] and \
        lines[ukey[:12]].rstrip().endswith("m-user,m-a,m-b (user)"), out
    assert "MODELS" in out.splitlines()[0]

    def status(key, model):
        # cgi-bin/v1 as plain CGI below /api/call.php (PATH_INFO)
        return env.cgi("v1", method="POST", body=jbody(dict(ANTHROPIC_REQ, model=model)),
                       env=env.relay_env(PATH_INFO="/v1/messages"),
                       headers={"x-api-key": key, "Content-Type": "application/json"}).status
    assert status(kkey, "m-b") == 200 and status(kkey, "m-user") == 403
    assert status(ukey, "m-user") == 200 and status(ukey, "m-x") == 403
    # the user's list changes; "" means every model again
    assert env.relayctl("user", "set", "mia", "--models", "m-c,m-d").returncode == 0
    assert status(ukey, "m-d") == 200 and status(ukey, "m-user") == 403
    # narrowing the user narrows the key made before: nothing both allow
    assert status(kkey, "m-b") == 403 and status(kkey, "m-d") == 403
    assert "m-c,m-d" in env.relayctl("user", "list").stdout
    assert env.relayctl("user", "set", "mia", "--models", "").returncode == 0
    assert env.sql_value("SELECT models IS NULL FROM users WHERE name = 'mia'") == "1"
    assert status(ukey, "anything") == 200
    assert status(kkey, "m-b") == 200 and status(kkey, "anything") == 403
    assert env.relayctl("key", "list", "mia").stdout.splitlines()[2].rstrip().endswith("all")
    for args in (("key", "create", "mia", "--models", "bad name!"),
                 ("key", "create", "mia", "--models"),
                 ("user", "set", "mia", "--models", "a;DROP TABLE users"),
                 ("user", "add", "nia", "--models", "x" * 129),
                 ("user", "set", "mia", "--models", ",".join("m%d" % i for i in range(300)))):
        r = env.relayctl(*args)
        assert r.returncode == 2 and ("--models" in r.stderr or "option" in r.stderr), \
            (args, r.returncode, r.stderr)
    assert env.sql_value("SELECT COUNT(*) FROM users") == "1"
    rows = env.sql("SELECT http_status, error FROM request_log WHERE http_status = 403")
    assert rows and all(x[1] == "model not allowed" for x in rows), rows
