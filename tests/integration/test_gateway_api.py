"""The Go gateway's account API (issue 29, seed peer-go-gateway-api.txt):
its request/response examples replayed against cgi-bin/console through
lighttpd: login by e-mail, register -> pending -> approved, keys with an
RFC 3339 expires_at, DELETE /api/v1/admin/users/:id, backends with the
seed's fields and /health, models with their backends (and the router
using them), with each route's
errors and role checks."""
import json
import re

from common import OPENAI_REQ, assert_error, call, jbody, req
from test_console import ADMIN, ADMIN_PW, Client, audit_rows, lighttpd, make_admin, ok


def _seed_login(env, base, email, pw):
    c = Client(env, base)
    r = c.req("POST", "/api/v1/auth/login", {"email": email, "password": pw})
    if r.status == 200:
        c.csrf = r.json()["data"]["csrf_token"]
    return c, r


def test_gateway_login_by_email(env):
    """POST /api/v1/auth/login {"email","password"} answers data.token and
    data.user {id,email,name,role} (role user|admin), sets the console's
    cookie; the address is case-insensitive and unique; a name still works.
    Before: 400 请输入用户名和密码 and role "member"."""
    base = lighttpd(env)
    make_admin(env)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    u = ok(a.req("POST", "/api/v1/admin/users", {"name": "User.Name", "email": "User@Example.com",
                                                  "password": "password-1"}), 201)
    assert u["email"] == "user@example.com" and u["role"] == "user", u
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "other", "email": "USER@example.COM"}),
                 409, "邮箱")
    assert_error(a.req("POST", "/api/v1/admin/users", {"name": "bad", "email": "no-at-sign"}), 400)
    c, r = _seed_login(env, base, "user@EXAMPLE.com", "password-1")
    assert r.status == 200, r
    d = r.json()["data"]
    assert d["token"] and d["user"] == {"id": u["id"], "email": "user@example.com",
                                        "name": "User.Name", "role": "user"}, d
    assert any(k.lower() == "set-cookie" and v.startswith("relay_session=")
               for k, v in r.raw_headers), r.headers
    me = ok(c.req("GET", "/api/v1/auth/me"))
    assert me["user"] == d["user"], me
    # the token alone (Bearer, as the seed's clients use it) is a session
    b = Client(env, base)
    b.bearer = d["token"]
    assert ok(b.req("GET", "/api/v1/user/keys")) == []
    # by name too, and the admin's role is "admin"
    Client(env, base).login("User.Name", "password-1")
    _, r = _seed_login(env, base, "user@example.com", "wrong-password")
    assert_error(r, 401)
    _, r = _seed_login(env, base, "", "x")
    assert_error(r, 400)
    me = ok(a.req("GET", "/api/v1/auth/me"))
    assert me["user"]["role"] == "admin" and me["user"]["email"] is None, me
    # an admin sets and clears an address; another user's is a 409
    ok(a.req("POST", "/api/v1/admin/users", {"name": "two", "email": "two@example.com"}), 201)
    two = int(env.sql_value("SELECT id FROM users WHERE name = 'two'"))
    assert_error(a.req("PUT", "/api/v1/admin/users/%d" % two, {"email": "user@example.com"}), 409)
    ok(a.req("PUT", "/api/v1/admin/users/%d" % two, {"email": "Two2@Example.com"}))
    assert env.sql_value("SELECT email FROM users WHERE id = %d" % two) == "two2@example.com"
    ok(a.req("PUT", "/api/v1/admin/users/%d" % two, {"email": ""}))
    assert env.sql_value("SELECT email IS NULL FROM users WHERE id = %d" % two) == "1"
    acts = [(x[1], x[2], x[3]) for x in audit_rows(env)]
    assert ("user.update", "user:%d" % two, "email=two2@example.com") in acts, acts


def test_gateway_register_pending_approved(env):
    """The seed's register {email,password,name}: 201 with the top-level
    message, pending until an admin approves, then login by e-mail."""
    base = lighttpd(env)
    make_admin(env)
    on = env.relay_env(registration_enabled=1)

    def cgi(path, b):
        return env.cgi("console", method="POST", uri=path, env=on, body=jbody(b),
                       headers={"Content-Type": "application/json"})
    body = {"email": "newuser@example.com", "password": "password123", "name": "新用户"}
    r = cgi("/api/v1/auth/register", body)
    assert r.status == 201 and r.json()["message"] == "注册成功,请等待管理员审核", r.text
    assert env.sql("SELECT email, enabled, pending FROM users WHERE name = '新用户'") == \
        [["newuser@example.com", "0", "1"]]
    assert_error(cgi("/api/v1/auth/register", dict(body, name="another", email="NewUser@example.com")),
                 409, "邮箱")
    assert_error(cgi("/api/v1/auth/register", dict(body, name="third", email="not-an-address")), 400)
    login = {"email": "newuser@example.com", "password": "password123"}
    assert_error(cgi("/api/v1/auth/login", login), 403, "审核")
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    uid = int(env.sql_value("SELECT id FROM users WHERE email = 'newuser@example.com'"))
    ok(a.req("PUT", "/api/v1/admin/users/%d" % uid, {"approve": 1}))
    r = cgi("/api/v1/auth/login", login)
    assert r.status == 200 and r.json()["data"]["user"]["role"] == "user", r.text


def test_gateway_key_expires_at(env):
    """POST /api/v1/user/keys with the seed's body: models and an RFC 3339
    expires_at; a past one is a 400 (before: a dead key created, 201);
    list and delete as the seed."""
    base = lighttpd(env)
    make_admin(env)
    c = Client(env, base)
    c.login(ADMIN, ADMIN_PW)
    k = ok(c.req("POST", "/api/v1/user/keys", {"name": "开发测试", "models": ["glm4.7", "kimi2.5"],
                                               "expires_at": "2099-12-31T23:59:59Z"}), 201)
    assert k["models"] == ["glm4.7", "kimi2.5"] and k["expires_at"] == "2099-12-31", k
    for past in ("2024-12-31T23:59:59Z", "2024-12-31", "2020-01-01T00:00:00+08:00"):
        assert_error(c.req("POST", "/api/v1/user/keys", {"name": "old", "expires_at": past}),
                     400, "已过")
    for bad in ("2099-13-01T00:00:00Z", "2099-12-31T23:59:59", "2099-12-31T23:59:59Zjunk",
                "tomorrow"):
        assert_error(c.req("POST", "/api/v1/user/keys", {"name": "bad", "expires_at": bad}), 400)
    ok(c.req("POST", "/api/v1/user/keys", {"name": "offset",
                                           "expires_at": "2099-06-30T10:00:00.5+02:00"}), 201)
    keys = ok(c.req("GET", "/api/v1/user/keys"))
    assert sorted(x["name"] for x in keys) == ["offset", "开发测试"], keys
    ok(c.req("DELETE", "/api/v1/user/keys/%d" % k["id"]))
    assert_error(c.req("DELETE", "/api/v1/user/keys/%d" % k["id"]), 409)


def test_gateway_admin_user_delete(env):
    """DELETE /api/v1/admin/users/:id does what relayctl user del does: the
    user, keys and usage gone, the log kept, audited; not oneself (400),
    unknown 404, members 403. Before: 405."""
    base = lighttpd(env)
    admin_id = make_admin(env)
    make_admin(env, "gone", "gone-pass-1", admin=False)
    gid = int(env.sql_value("SELECT id FROM users WHERE name = 'gone'"))
    m = Client(env, base)
    m.login("gone", "gone-pass-1")
    key = ok(m.req("POST", "/api/v1/user/keys", {"name": "k"}), 201)["key"]
    r = call(env, OPENAI_REQ, key=key)
    assert r.status == 200, r
    assert_error(m.req("DELETE", "/api/v1/admin/users/%d" % admin_id), 403, "管理员")
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    assert_error(a.req("DELETE", "/api/v1/admin/users/%d" % admin_id), 400)
    assert_error(a.req("DELETE", "/api/v1/admin/users/999999"), 404)
    ok(a.req("DELETE", "/api/v1/admin/users/%d" % gid))
    assert env.sql_value("SELECT COUNT(*) FROM users WHERE id = %d" % gid) == "0"
    assert env.sql_value("SELECT COUNT(*) FROM api_keys WHERE user_id = %d" % gid) == "0"
    assert_error(a.req("DELETE", "/api/v1/admin/users/%d" % gid), 404)
    assert call(env, OPENAI_REQ, key=key).status == 401
    # the session of the deleted user no longer works
    assert m.req("GET", "/api/v1/auth/me").status == 401
    acts = [(x[0], x[1], x[2]) for x in audit_rows(env)]
    assert (ADMIN, "user.delete", "gone") in acts, acts


def test_gateway_backends_fields_and_health(env):
    """The seed's Backend fields beside today's: region (set by base_url /
    region), healthy, last_check_at (RFC 3339, the health check's time),
    created_at, updated_at; POST /api/v1/admin/backends/:id/health runs
    today's test (before: 404), audited; members 403; bad region 400."""
    up = env.start_extra_mock("gw-health")
    base = lighttpd(env)
    make_admin(env)
    make_admin(env, "m1", "m1-pass-123", admin=False)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    b = ok(a.req("POST", "/api/v1/admin/backends",
                 {"name": "east", "format": "openai", "base_url": up + "/v1", "region": "cn-east",
                  "weight": 2}), 201)
    assert (b["base_url"], b["region"], b["healthy"], b["last_check_at"], b["state"]) == \
        (up + "/v1", "cn-east", True, None, "ok"), b
    ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(ts, b["created_at"]) and re.fullmatch(ts, b["updated_at"]), b
    assert_error(a.req("PUT", "/api/v1/admin/backends/%d" % b["id"], {"region": "has space"}), 400)
    assert ok(a.req("PUT", "/api/v1/admin/backends/%d" % b["id"], {"region": "us"}))["region"] == "us"
    t = ok(a.req("POST", "/api/v1/admin/backends/%d/health" % b["id"], {}))
    assert t["ok"] is True and t["status"] == 200, t
    row = [x for x in ok(a.req("GET", "/api/v1/admin/backends")) if x["id"] == b["id"]][0]
    assert row["healthy"] is True and re.fullmatch(ts, row["last_check_at"]), row
    # a dead upstream: the check fails, the backend is no longer healthy
    ok(a.req("PUT", "/api/v1/admin/backends/%d" % b["id"], {"base_url": "http://127.0.0.1:9/v1"}))
    t = ok(a.req("POST", "/api/v1/admin/backends/%d/health" % b["id"], {}))
    assert t["ok"] is False, t
    row = [x for x in ok(a.req("GET", "/api/v1/admin/backends")) if x["id"] == b["id"]][0]
    assert row["healthy"] is False and row["state"] != "ok" and row["last_check_at"], row
    assert_error(a.req("POST", "/api/v1/admin/backends/999999/health", {}), 404)
    m = Client(env, base)
    m.login("m1", "m1-pass-123")
    assert_error(m.req("POST", "/api/v1/admin/backends/%d/health" % b["id"], {}), 403)
    acts = [(x[1], x[2]) for x in audit_rows(env)]
    assert ("backend.test", "backend:east") in acts, acts
    r = env.relayctl("backend", "set", "east", "--region", "eu")
    assert r.returncode == 0, r.stderr
    assert env.sql_value("SELECT region FROM backends WHERE name = 'east'") == "eu"


def test_gateway_models_route_requests(env):
    """Models as first-class entries: /api/v1/admin/models CRUD and
    /models/:id/backends; a model with entries goes to its backends under
    the entry's upstream name, ahead of any backend's glob (before: 404 on
    the routes, requests by globs only); without entries the globs and
    mappings decide as before; a disabled model is served by nobody;
    errors, role checks, audit."""
    a_url, b_url = env.start_extra_mock("gw-ma"), env.start_extra_mock("gw-mb")
    env.mock_reset_at(a_url)
    env.mock_reset_at(b_url)
    e = env.relay_env(RELAY_OPENAI_URL=None, RELAY_ANTHROPIC_URL=None)
    base = lighttpd(env)
    make_admin(env)
    make_admin(env, "m1", "m1-pass-123", admin=False)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    alpha = ok(a.req("POST", "/api/v1/admin/backends", {"name": "alpha", "format": "openai",
                                                         "base_url": a_url + "/v1",
                                                         "models": "gpt-*"}), 201)["id"]
    bravo = ok(a.req("POST", "/api/v1/admin/backends", {"name": "bravo", "format": "openai",
                                                         "base_url": b_url + "/v1",
                                                         "models": "other-*"}), 201)["id"]
    m = ok(a.req("POST", "/api/v1/admin/models", {"name": "kimi2.5", "display_name": "Kimi 2.5"}),
           201)
    assert (m["name"], m["display_name"], m["enabled"], m["backends"]) == \
        ("kimi2.5", "Kimi 2.5", True, []), m
    mid = m["id"]
    m = ok(a.req("POST", "/api/v1/admin/models/%d/backends" % mid,
                 {"backend_id": bravo, "model_name": "moonshot-kimi-k2", "weight": 3,
                  "region": "cn"}), 201)
    assert [(x["id"], x["name"], x["model_name"], x["weight"], x["region"], x["healthy"])
            for x in m["backends"]] == [(bravo, "bravo", "moonshot-kimi-k2", 3, "cn", True)], m
    assert ok(a.req("GET", "/api/v1/admin/models/%d/backends" % mid)) == m["backends"]
    assert [x["name"] for x in ok(a.req("GET", "/api/v1/admin/models"))] == ["kimi2.5"]
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    r = call(env, req(model="kimi2.5"), k, env_over=e)
    assert r.status == 200, r.body
    rb = env.mock_requests_at(b_url)
    assert len(rb) == 1 and json.loads(rb[0]["body"])["model"] == "moonshot-kimi-k2", rb
    assert not env.mock_requests_at(a_url)
    assert env.sql("SELECT backend, model FROM request_log ORDER BY id DESC LIMIT 1") == \
        [["bravo", "kimi2.5"]]
    # /v1/models lists the model entries beside the upstream's list
    r = env.http(base + "/v1/models", headers={"Authorization": "Bearer " + k})
    assert r.status == 200 and "kimi2.5" in [x["id"] for x in r.json()["data"]], r.body
    # without an entry, alpha's glob serves gpt-4o; with one on bravo, bravo
    r = call(env, req(model="gpt-4o"), k, env_over=e)
    assert r.status == 200 and len(env.mock_requests_at(a_url)) == 1, r.body
    g = ok(a.req("POST", "/api/v1/admin/models", {"name": "gpt-4o"}), 201)["id"]
    ok(a.req("POST", "/api/v1/admin/models/%d/backends" % g, {"backend_id": bravo}), 201)
    r = call(env, req(model="gpt-4o"), k, env_over=e)
    assert r.status == 200 and len(env.mock_requests_at(a_url)) == 1, r.body
    rb = env.mock_requests_at(b_url)
    assert len(rb) == 2 and json.loads(rb[1]["body"])["model"] == "gpt-4o", rb
    # disabled: nobody serves it (the route's 400 naming the model)
    ok(a.req("PUT", "/api/v1/admin/models/%d" % mid, {"enabled": 0}))
    r = call(env, req(model="kimi2.5"), k, env_over=e)
    assert r.status == 400 and "kimi2.5" in r.json()["message"], r.body
    ok(a.req("PUT", "/api/v1/admin/models/%d" % mid, {"enabled": 1}))
    assert call(env, req(model="kimi2.5"), k, env_over=e).status == 200
    # errors and roles
    assert_error(a.req("POST", "/api/v1/admin/models", {"name": "kimi2.5"}), 409)
    assert_error(a.req("POST", "/api/v1/admin/models", {"name": "glob-*"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/models", {}), 400)
    assert_error(a.req("PUT", "/api/v1/admin/models/999999", {"enabled": 0}), 404)
    assert_error(a.req("DELETE", "/api/v1/admin/models/999999"), 404)
    assert_error(a.req("GET", "/api/v1/admin/models/999999/backends"), 404)
    assert_error(a.req("POST", "/api/v1/admin/models/%d/backends" % mid, {"backend_id": 999999}),
                 404)
    assert_error(a.req("POST", "/api/v1/admin/models/%d/backends" % mid, {}), 400)
    assert_error(a.req("POST", "/api/v1/admin/models/%d/backends" % mid,
                       {"backend_id": alpha, "weight": 0}), 400)
    mem = Client(env, base)
    mem.login("m1", "m1-pass-123")
    for method, path, body in (("GET", "/api/v1/admin/models", None),
                               ("POST", "/api/v1/admin/models", {"name": "x"}),
                               ("PUT", "/api/v1/admin/models/%d" % mid, {"enabled": 0}),
                               ("DELETE", "/api/v1/admin/models/%d" % mid, None),
                               ("GET", "/api/v1/admin/models/%d/backends" % mid, None),
                               ("POST", "/api/v1/admin/models/%d/backends" % mid,
                                {"backend_id": alpha})):
        assert_error(mem.req(method, path, body), 403, "管理员")
    # deleted: back to the globs (nobody serves kimi2.5)
    ok(a.req("DELETE", "/api/v1/admin/models/%d" % mid))
    assert env.sql_value("SELECT COUNT(*) FROM model_backends WHERE model_id = %d" % mid) == "0"
    assert call(env, req(model="kimi2.5"), k, env_over=e).status == 400
    acts = [(x[1], x[2]) for x in audit_rows(env)]
    for act in (("model.create", "kimi2.5"), ("model.backend", "model:%d" % mid),
                ("model.update", "model:%d" % mid), ("model.delete", "model:%d" % mid)):
        assert act in acts, (act, acts)


def test_gateway_relayctl_model(env):
    """relayctl model add/backend/set/list/del: the same entries as the
    API (madmin), audited as the shell's; bad input exit 2, unknown 1."""
    up = env.start_extra_mock("gw-ctl")
    env.mock_reset_at(up)
    e = env.relay_env(RELAY_OPENAI_URL=None, RELAY_ANTHROPIC_URL=None)
    for args in (("backend", "add", "solo", "--format", "openai", "--url", up + "/v1",
                  "--models", "nothing-*"),
                 ("model", "add", "glm4.7", "--display", "GLM 4.7"),
                 ("model", "backend", "glm4.7", "solo", "--upstream", "glm-4.7-pro",
                  "--weight", "2", "--region", "cn")):
        r = env.relayctl(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    out = env.relayctl("model", "list").stdout
    assert "glm4.7" in out and "glm-4.7-pro" in out and "solo" in out, out
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    r = call(env, req(model="glm4.7"), k, env_over=e)
    assert r.status == 200, r.body
    assert json.loads(env.mock_requests_at(up)[0]["body"])["model"] == "glm-4.7-pro"
    assert env.relayctl("model", "set", "glm4.7", "--disable").returncode == 0
    assert env.sql_value("SELECT enabled FROM models WHERE name = 'glm4.7'") == "0"
    assert env.relayctl("model", "add", "glm4.7").returncode == 1
    assert env.relayctl("model", "add", "bad*name").returncode == 2
    assert env.relayctl("model", "backend", "glm4.7", "solo", "--weight", "0").returncode == 2
    assert env.relayctl("model", "backend", "glm4.7", "nobody").returncode == 1
    assert env.relayctl("model", "del", "nope").returncode == 1
    assert env.relayctl("model", "del", "glm4.7").returncode == 0
    assert env.sql_value("SELECT COUNT(*) FROM model_backends") == "0"
    acts = [(x[1], x[2]) for x in audit_rows(env)]
    for act in (("model.create", "glm4.7"), ("model.backend", "glm4.7"),
                ("model.update", "glm4.7"), ("model.delete", "glm4.7")):
        assert act in acts, (act, acts)
