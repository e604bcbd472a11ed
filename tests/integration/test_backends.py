"""Several upstream accounts in one pool (issue 13): backends with their own
slots, model routing and mapping, failover before the first byte, passive
health with cool-down and recovery, relayctl backend, secrets."""
import json
import os
import threading

from common import ANTHROPIC_REQ, call, header, jbody, req, wait_until
from harness import free_port

KEY_A = "sk-alpha-upstream-SECRET-a1b2"
KEY_B = "sk-bravo-upstream-SECRET-c3d4"


def _no_default(env, **more):
    """Settings without the legacy default backend: only table backends."""
    return env.relay_env(RELAY_OPENAI_URL=None, RELAY_ANTHROPIC_URL=None, **more)


def _add(env, name, *args, key=None, e=None):
    a = ["backend", "add", name] + [str(x) for x in args]
    if key is not None:
        a += ["--key", "-"]
    r = env.relayctl(*a, input=(key + "\n") if key is not None else None, env=e)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def _max_overlap(recs):
    ev = []
    for r in recs:
        if "stall_end" in r:
            ev.append((r["time"], 1))
            ev.append((r["stall_end"], -1))
    ev.sort(key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _t, d in ev:
        cur += d
        best = max(best, cur)
    return best


def _parallel_calls(env, n, body_fn, key, e, wait=60):
    out = [None] * n

    def run(i):
        out[i] = call(env, body_fn(i), key, headers={"X-Relay-Wait": str(wait)},
                      timeout=wait + 60, env_over=e)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(wait + 90)
    return out


def test_slots_add_up_and_are_never_exceeded_per_backend(env):
    a = env.start_extra_mock("a")
    b = env.start_extra_mock("b")
    env.mock_reset_at(a)
    env.mock_reset_at(b)
    e = _no_default(env)
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--slots", 2, key=KEY_A)
    _add(env, "bravo", "--format", "openai", "--url", b + "/v1", "--slots", 1, key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    stall = 4 if env.valgrind else 1
    res = _parallel_calls(env, 8, lambda i: req(mock={"stall": stall}, n=i), k, e)
    assert [r.status for r in res] == [200] * 8, [(r.status, r.body[:200]) for r in res]
    ra, rb = env.mock_requests_at(a), env.mock_requests_at(b)
    assert len(ra) + len(rb) == 8
    assert ra and rb, "both backends served"
    assert _max_overlap(ra) <= 2
    assert _max_overlap(rb) <= 1
    assert _max_overlap(ra + rb) <= 3
    # each backend got its own key, the default's never went out
    assert all(header(r, "Authorization") == "Bearer " + KEY_A for r in ra)
    assert all(header(r, "Authorization") == "Bearer " + KEY_B for r in rb)
    rows = dict(env.sql("SELECT backend, COUNT(*) FROM request_log GROUP BY backend"))
    assert rows == {"alpha": str(len(ra)), "bravo": str(len(rb))}, rows
    assert env.sql_value("SELECT COUNT(*) FROM queue WHERE status IN ('waiting','processing')") == "0"


def test_model_routing_and_mapping_rewrite_only_the_model(env):
    a = env.start_extra_mock("a")
    b = env.start_extra_mock("b")
    env.mock_reset_at(a)
    env.mock_reset_at(b)
    e = _no_default(env)
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--models", "only-alpha,al-*",
         key=KEY_A)
    _add(env, "mm", "--preset", "minimax", "--format", "anthropic", "--url", b + "/anthropic",
         "--models", "MiniMax-M2.7", "--map", "claude-*=MiniMax-M2.7", "--slots", 2, key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    for i in range(4):
        r = call(env, req(model="only-alpha" if i % 2 else "al-%d" % i), k, env_over=e)
        assert r.status == 200, r.body
    assert len(env.mock_requests_at(a)) == 4 and not env.mock_requests_at(b)
    # Claude Code's model on the MiniMax backend: the model string is
    # rewritten, every other byte is the client's (odd spacing, escapes)
    raw = ('{ "model" : "claude-sonnet-4-5",\n "max_tokens":64, "system":"\\u4f60\\u597d",'
           ' "messages":[{"role":"user","content":"model: \\"claude-x\\" 你"}],'
           ' "metadata":{"model":"claude-inner"} }').encode()
    r = env.cgi("v1", method="POST", body=raw,
                headers={"Content-Type": "application/json", "X-Api-Key": k,
                         "Anthropic-Version": "2023-06-01"},
                env=_no_default(env, PATH_INFO="/v1/messages"))
    assert r.status == 200, r.body
    rb = env.mock_requests_at(b)
    assert len(rb) == 1
    assert rb[0]["path"].endswith("/anthropic/v1/messages"), rb[0]["path"]
    assert rb[0]["body"] == raw.replace(b'"claude-sonnet-4-5"', b'"MiniMax-M2.7"', 1)
    assert header(rb[0], "x-api-key") == KEY_B
    row = env.sql("SELECT backend, model FROM request_log ORDER BY id DESC LIMIT 1")[0]
    assert row == ["mm", "claude-sonnet-4-5"], row
    # call.php's Anthropic body goes to the same backend, mapped
    r = call(env, dict(ANTHROPIC_REQ, model="claude-haiku"), k, env_over=e)
    assert r.status == 200, r.body
    rb = env.mock_requests_at(b)
    assert len(rb) == 2 and rb[1]["path"].endswith("/anthropic/v1/messages")
    assert json.loads(rb[1]["body"])["model"] == "MiniMax-M2.7"
    # a model nobody serves: a clear error, counted, no upstream call;
    # matching is byte-exact, as the mapping is (model ids are case-sensitive)
    for body in (req(model="nobody-serves-this"), req(model="ONLY-ALPHA"), req(model="AL-1"),
                 dict(ANTHROPIC_REQ, model="Claude-haiku")):
        r = call(env, body, k, env_over=e)
        assert r.status == 400 and body["model"] in r.json()["message"], r.body
    r = env.cgi("v1", method="POST", body=jbody(req(model="nobody-serves-this")),
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + k},
                env=_no_default(env, PATH_INFO="/v1/chat/completions"))
    assert r.status == 404 and r.json()["error"]["code"] == "model_not_found", r.body
    assert len(env.mock_requests_at(a)) == 4 and len(env.mock_requests_at(b)) == 2


def test_failover_cooldown_and_recovery(env):
    b = env.start_extra_mock("b")
    env.mock_reset_at(b)
    dead_port = free_port()
    # a cool-down far longer than the test: its end is made to come below
    # (no clock in the test)
    e = _no_default(env, RELAY_BACKEND_FAIL_THRESHOLD="2", RELAY_BACKEND_COOLDOWN="600")
    # the dead one is preferred: every request tries it first
    _add(env, "dead", "--format", "openai", "--url", "http://127.0.0.1:%d/v1" % dead_port,
         "--priority", 1, "--slots", 2, key=KEY_A)
    _add(env, "good", "--format", "openai", "--url", b + "/v1", key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    for i in range(5):
        r = call(env, req(n=i), k, env_over=e)
        assert r.status == 200, r.body
    rows = env.sql("SELECT backend, tries, http_status FROM request_log ORDER BY id")
    assert all(rw[0] == "good" and rw[2] == "200" for rw in rows), rows
    # two failed tries, then the dead backend cools down and is not tried
    assert [rw[1] for rw in rows[:2]] == ["2", "2"], rows
    assert all(rw[1] == "1" for rw in rows[2:]), rows
    tries = env.sql("SELECT backend, http_status, error FROM request_tries ORDER BY id")
    assert len(tries) == 2 and all(t[0] == "dead" and t[1] == "502" for t in tries), tries
    st = env.sql("SELECT s.fails, s.cool_until IS NOT NULL FROM backend_state s"
                 " JOIN backends b ON b.id = s.backend_id WHERE b.name = 'dead'")
    assert st == [["2", "1"]], st
    lst = env.relayctl("backend", "list", env=e)
    assert "cooling" in lst.stdout, lst.stdout
    # it comes back: its upstream starts, the cool-down ends, one probe
    # request goes there and clears the state
    d = env.start_extra_mock("dead", port=dead_port)
    env.sql("UPDATE backend_state s JOIN backends b ON b.id = s.backend_id"
            " SET s.cool_until = NOW(3) - INTERVAL 1 SECOND WHERE b.name = 'dead'")
    for i in range(10):
        assert call(env, req(n=100 + i), k, env_over=e).status == 200
        if env.mock_requests_at(d):
            break
    assert env.mock_requests_at(d), "the recovered backend got a request"
    st = env.sql("SELECT s.fails, s.cool_until FROM backend_state s"
                 " JOIN backends b ON b.id = s.backend_id WHERE b.name = 'dead'")
    assert st == [["0", None]], st
    env.stop_extra_mock("dead")


def test_failover_on_503_before_anything_reached_the_client(env):
    a = env.start_extra_mock("a")
    b = env.start_extra_mock("b")
    env.mock_reset_at(a)
    env.mock_reset_at(b)
    e = _no_default(env)
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--priority", 1, key=KEY_A)
    _add(env, "bravo", "--format", "openai", "--url", b + "/v1", key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    aport = a.rsplit(":", 1)[1]
    r = call(env, req(mock={"port_status": {aport: 503}}), k, env_over=e)
    assert r.status == 200 and r.json()["object"] == "chat.completion", r.body
    assert len(env.mock_requests_at(a)) == 1 and len(env.mock_requests_at(b)) == 1
    lid, bk, tries = env.sql("SELECT id, backend, tries FROM request_log")[0]
    assert (bk, tries) == ("bravo", "2")
    assert env.sql("SELECT backend, http_status FROM request_tries WHERE log_id = %s" % lid) \
        == [["alpha", "503"]]
    # metered once, on the backend that served it
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == "1"


def test_priority_tiers_use_the_fallback_only_for_what_the_main_cannot(env):
    a = env.start_extra_mock("a")
    b = env.start_extra_mock("b")
    env.mock_reset_at(a)
    env.mock_reset_at(b)
    e = _no_default(env)
    # the spare weighs far more, yet the main account's tier comes first
    _add(env, "main", "--format", "openai", "--url", a + "/v1", "--priority", 5, key=KEY_A)
    _add(env, "spare", "--format", "openai", "--url", b + "/v1", "--weight", 1000,
         key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    for i in range(4):
        assert call(env, req(n=i), k, env_over=e).status == 200
    assert len(env.mock_requests_at(a)) == 4 and not env.mock_requests_at(b)
    lst = env.relayctl("backend", "list", env=e).stdout.splitlines()
    head = lst[0].split()
    main = [ln.split() for ln in lst if " main " in ln][0]
    assert main[head.index("PRIO")] == "5", lst
    # main's one slot is held: the next request takes the spare's at once
    box = {}

    def hold():
        box["r"] = call(env, req(mock={"hold": "p1"}), k, env_over=e, timeout=60)
    t = threading.Thread(target=hold)
    t.start()
    wait_until(lambda: len(env.mock_requests_at(a)) >= 5, what="the holder upstream")
    assert call(env, req(n=9), k, env_over=e).status == 200
    assert len(env.mock_requests_at(b)) == 1
    env.http(a + "/__release", method="POST", body=b"p1", timeout=10)
    t.join()
    assert box["r"].status == 200
    rows = env.sql("SELECT backend FROM request_log ORDER BY id")
    assert [r[0] for r in rows] == ["main"] * 4 + ["spare", "main"], rows
    # set changes it; bad values get a clear error and exit status 2
    r = env.relayctl("backend", "set", "spare", "--priority", "9", env=e)
    assert r.returncode == 0, r.stderr
    assert call(env, req(n=10), k, env_over=e).status == 200
    assert len(env.mock_requests_at(b)) == 2
    for bad in ("-1", "1001", "x"):
        r = env.relayctl("backend", "set", "spare", "--priority", bad, env=e)
        assert r.returncode == 2 and "--priority takes a number 0..1000" in r.stderr, r


def test_no_failover_after_the_first_byte(env):
    a = env.start_extra_mock("a")
    b = env.start_extra_mock("b")
    env.mock_reset_at(a)
    env.mock_reset_at(b)
    e = _no_default(env)
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--priority", 1, key=KEY_A)
    _add(env, "bravo", "--format", "openai", "--url", b + "/v1", key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    r = call(env, req(stream=True, mock={"close_after": 2, "n": 5}), k, env_over=e,
             stream=True)
    assert r.status == 200
    text = r.body.decode()
    assert "event: error" in text, text
    assert len(env.mock_requests_at(a)) + len(env.mock_requests_at(b)) == 1
    bk, tries, err = env.sql("SELECT backend, tries, error FROM request_log")[0]
    assert tries == "1" and err, (bk, tries, err)
    assert env.sql_value("SELECT COUNT(*) FROM request_tries") == "0"


def test_polled_queue_items_run_on_backends(env):
    a = env.start_extra_mock("a")
    env.mock_reset_at(a)
    e = _no_default(env)
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--map", "gpt-*=mapped-model",
         key=KEY_A)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    # hold alpha's one slot so the next call is queued (202)
    box = {}

    def hold():
        box["r"] = call(env, req(mock={"stall": 3}), k, env_over=e, timeout=60)
    t = threading.Thread(target=hold)
    t.start()
    wait_until(lambda: len(env.mock_requests_at(a)) >= 1, what="the holder upstream")
    r = call(env, req(model="gpt-q"), k, env_over=e)
    assert r.status == 202, r.body
    qid = r.json()["queue_id"]
    t.join()
    w = env.start_queue_worker("--max-seconds", "30", env=e)
    wait_until(lambda: env.sql_value("SELECT status FROM queue WHERE id = %d" % qid)
               == "completed", timeout=30, what="the queued item to complete")
    w.terminate()
    recs = env.mock_requests_at(a)
    assert json.loads(recs[-1]["body"])["model"] == "mapped-model"
    assert header(recs[-1], "Authorization") == "Bearer " + KEY_A
    assert env.sql_value("SELECT backend FROM request_log WHERE queue_id = %d" % qid) == "alpha"


def test_relayctl_backend_input_errors_and_secrets(env):
    e = env.relay_env()
    bad = [
        ["backend"],
        ["backend", "add"],
        ["backend", "add", "x"],                                   # no format/url
        ["backend", "add", "x", "--format", "grpc", "--url", "http://h"],
        ["backend", "add", "x", "--format", "openai", "--url", "ftp://h"],
        ["backend", "add", "x", "--preset", "nosuch"],
        ["backend", "add", "x", "--preset", "openai", "--slots", "0"],
        ["backend", "add", "x", "--preset", "openai", "--weight", "abc"],
        ["backend", "add", "x", "--preset", "openai", "--key", "sk-in-argv"],
        ["backend", "add", "x", "--preset", "openai", "--models", "a b"],
        ["backend", "add", "x", "--preset", "openai", "--map", "claude-*"],
        ["backend", "add", "x", "--preset", "openai", "--mode", "magic"],
        ["backend", "add", "default", "--preset", "openai"],
        ["backend", "add", "bad name", "--preset", "openai"],
        ["backend", "set", "x"],
        ["backend", "frobnicate"],
        ["backend", "del"],
        ["backend", "test"],
    ]
    for args in bad:
        r = env.relayctl(*args, env=e)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr.strip().startswith("relayctl:"), (args, r.stderr)
        assert "Traceback" not in r.stderr
    # operations on what is not there: exit 1, clear
    for args in (["backend", "set", "ghost", "--slots", "2"], ["backend", "del", "ghost"],
                 ["backend", "test", "ghost"]):
        r = env.relayctl(*args, env=e)
        assert r.returncode == 1 and "ghost" in r.stderr, (args, r.stderr)
    # a key: sealed, listed by its last 4 characters only, audited
    _add(env, "alpha", "--preset", "minimax", "--slots", 3, key=KEY_A, e=e)
    r = _add(env, "alpha2", "--preset", "deepseek", key=KEY_B, e=e)
    assert KEY_B not in r.stdout + r.stderr
    assert env.relayctl("backend", "add", "alpha", "--preset", "openai", env=e).returncode == 1
    lst = env.relayctl("backend", "list", env=e)
    assert lst.returncode == 0
    assert "...a1b2" in lst.stdout and KEY_A not in lst.stdout and KEY_B not in lst.stdout
    assert "https://api.minimax.io/v1" in lst.stdout and "https://api.deepseek.com" in lst.stdout
    sealed = env.sql("SELECT HEX(key_sealed) FROM backends WHERE name = 'alpha'")[0][0]
    assert KEY_A.encode().hex().upper() not in sealed and len(sealed) > 2 * len(KEY_A)
    assert env.relayctl("backend", "disable", "alpha", env=e).returncode == 0
    assert env.sql_value("SELECT enabled FROM backends WHERE name = 'alpha'") == "0"
    assert env.relayctl("backend", "set", "alpha", "--slots", "5", "--enable",
                        env=e).returncode == 0
    assert env.sql("SELECT enabled, slots FROM backends WHERE name = 'alpha'") == [["1", "5"]]
    assert env.relayctl("backend", "set", "alpha", "--mode", "translate", env=e).returncode == 0
    assert env.sql_value("SELECT mode FROM backends WHERE name = 'alpha'") == "translate"
    audit = [r[0] for r in env.sql("SELECT action FROM audit_log ORDER BY id")]
    assert audit.count("backend.create") == 2 and "backend.update" in audit, audit
    assert not any(KEY_A in (d or "") for (d,) in env.sql("SELECT detail FROM audit_log"))
    assert env.relayctl("backend", "del", "alpha2", env=e).returncode == 0
    assert env.relayctl("backend", "presets", env=e).returncode == 0
    # a key needs a master key; a master key readable by others is refused
    r = env.relayctl("backend", "add", "nokey", "--preset", "openai", "--key", "-",
                     input="sk-x\n", env=env.relay_env(RELAY_MASTER_KEY_FILE=None))
    assert r.returncode == 1 and "master_key_file" in r.stderr, r.stderr
    loose = os.path.join(env.tmp, "loose.key")
    with open(loose, "w") as f:
        f.write("ab" * 32 + "\n")
    os.chmod(loose, 0o644)
    r = env.relayctl("backend", "list", env=env.relay_env(RELAY_MASTER_KEY_FILE=loose))
    assert r.returncode == 2 and "group or others" in r.stderr, r.stderr


def test_status_shows_backends_and_no_key_anywhere(env):
    a = env.start_extra_mock("a")
    env.mock_reset_at(a)
    dead = free_port()
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--weight", 1000, key=KEY_A)
    _add(env, "dead", "--format", "anthropic", "--url", "http://127.0.0.1:%d" % dead,
         key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    for _ in range(3):
        assert call(env, req(), k).status == 200
    t = env.relayctl("backend", "test", "dead")
    assert t.returncode == 1 and "FAILED" in t.stdout, t.stdout
    assert env.relayctl("backend", "test", "alpha").returncode == 0
    s = env.cgi("status")
    j = s.json()
    bks = {b["name"]: b for b in j["checks"]["backends"]}
    assert set(bks) == {"default", "alpha", "dead"}, bks
    assert bks["alpha"]["state"] == "ok" and bks["alpha"]["slots"] == 1
    assert bks["dead"]["last_error"], bks["dead"]
    assert "127.0.0.1" in j["checks"]["api_urls"]["message"]["openai"]
    # the legacy default is healthy, so the service is not unhealthy
    assert j["status"] in ("healthy", "degraded"), j["status"]
    out = s.body.decode() + env.relayctl("backend", "list").stdout + \
        env.relayctl("usage", "--by-backend").stdout
    for name in os.listdir(env.tmp):
        p = os.path.join(env.tmp, name)
        if name.endswith(".log") and os.path.isfile(p):
            with open(p, errors="replace") as f:
                out += f.read()
    for secret in (KEY_A, KEY_B):
        assert secret not in out
    u = env.relayctl("usage", "--by-backend")
    assert u.returncode == 0 and "alpha" in u.stdout, u.stdout


def test_unreachable_backend_while_the_other_is_busy_still_succeeds(env):
    b = env.start_extra_mock("b")
    env.mock_reset_at(b)
    e = _no_default(env)
    _add(env, "dead", "--format", "openai", "--url", "http://127.0.0.1:%d/v1" % free_port(),
         "--weight", 1000, key=KEY_A)
    _add(env, "good", "--format", "openai", "--url", b + "/v1", key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    box = {}

    def hold():
        box["r"] = call(env, req(mock={"hold": "h1"}), k, env_over=e, timeout=60)
    t = threading.Thread(target=hold)
    t.start()
    wait_until(lambda: len(env.mock_requests_at(b)) >= 1, what="the holder upstream")
    # the dead backend's slot is free, good's is held: the try on dead
    # fails, the request waits for good's slot instead of failing
    fails = lambda: int(env.sql_value("SELECT COALESCE(MAX(fails), 0) FROM backend_state"))  # noqa: E731
    f0 = fails()
    box2 = {}

    def second():
        box2["r"] = call(env, req(n=2), k, env_over=e, timeout=60)
    t2 = threading.Thread(target=second)
    t2.start()
    wait_until(lambda: fails() > f0, what="the second request's failed try on the dead backend")
    env.http(b + "/__release", method="POST", body=b"h1", timeout=10)
    t.join()
    t2.join()
    assert box["r"].status == 200 and box2["r"].status == 200, (box, box2)
    rows = env.sql("SELECT backend, tries FROM request_log ORDER BY id")
    assert [r[0] for r in rows] == ["good", "good"] and rows[1][1] == "2", rows


def test_retry_after_cools_that_backend_down(env):
    a = env.start_extra_mock("a")
    b = env.start_extra_mock("b")
    env.mock_reset_at(a)
    env.mock_reset_at(b)
    e = _no_default(env)
    _add(env, "alpha", "--format", "openai", "--url", a + "/v1", "--priority", 1, key=KEY_A)
    _add(env, "bravo", "--format", "openai", "--url", b + "/v1", key=KEY_B)
    k = env.add_user("u", daily_requests=0, daily_tokens=0)
    aport = a.rsplit(":", 1)[1]
    busy = {"port_status": {aport: 429}, "retry_after": 120}
    r = call(env, req(mock=busy), k, env_over=e)
    assert r.status == 200, r.body
    # one 429 is below the failure threshold, but its Retry-After holds
    assert env.sql("SELECT s.fails, s.cool_until > NOW(3) + INTERVAL 60 SECOND,"
                   " s.last_status FROM backend_state s JOIN backends b ON b.id = s.backend_id"
                   " WHERE b.name = 'alpha'") == [["1", "1", "429"]]
    for i in range(3):
        assert call(env, req(mock=busy, n=i), k, env_over=e).status == 200
    assert len(env.mock_requests_at(a)) == 1
    assert [t for (t,) in env.sql("SELECT tries FROM request_log ORDER BY id")] == ["2", "1", "1", "1"]
    s = env.cgi("status").json()
    assert s["status"] == "degraded"
    assert {x["name"]: x["state"] for x in s["checks"]["backends"]}["alpha"] == "down"
