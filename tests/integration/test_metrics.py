"""GET /metrics (issue 16): Prometheus text format, totals from MariaDB,
restricted to metrics_allow addresses or the metrics_token."""
import os
import sys

from common import assert_error, call, req


def _parser():
    """prometheus_client's text-format parser (Debian python3-prometheus-client,
    installed by tools/deps.sh; pure Python, so the Debian copy serves any
    Python 3)."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        for d in ("/usr/lib/python3/dist-packages",):
            if os.path.isdir(os.path.join(d, "prometheus_client")) and d not in sys.path:
                sys.path.append(d)
        from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families


def scrape(env, via="cgi", headers=None, env_over=None):
    """(response, {family name: family}) of one scrape."""
    if via == "cgi":
        r = env.cgi("metrics", headers=headers or {}, uri="/metrics", env=env_over)
    else:
        r = env.http(via + "/metrics", headers=headers or {})
    fams = {}
    if r.status == 200:
        for f in _parser()(r.body.decode()):
            fams[f.name] = f
    return r, fams


def value(fams, family, sample=None, **labels):
    """The value of the one sample of `family` (sample name defaults to the
    family's) whose labels include `labels`; 0 if none."""
    f = fams.get(family)
    if f is None:
        return 0
    name = sample or f.name
    got = [s.value for s in f.samples
           if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(got) <= 1 or not labels, (family, labels, got)
    return sum(got)


def settle(env):
    """The rollup leaves rows younger than 2 s for the next scrape (their
    commit may still be under way): age them instead of sleeping, once
    every request is metered."""
    env.settle()
    env.sql("UPDATE request_log SET created_at = created_at - INTERVAL 10 SECOND")


def test_metrics_counts_requests_tokens_and_latency(env):
    key = env.add_user("alice")
    for _ in range(3):
        assert call(env, req(), key).status == 200
    assert call(env, req(mock={"status": 500}), key).status == 500
    settle(env)
    r, fams = scrape(env)
    assert r.status == 200, r.body
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    ok = dict(route="call", status="200", model="gpt-test", backend="default")
    bad = dict(ok, status="500")
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", **ok) == 3, r.text
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", **bad) == 1
    assert value(fams, "llm_relay_request_errors", "llm_relay_request_errors_total", **bad) == 1
    assert value(fams, "llm_relay_request_errors", "llm_relay_request_errors_total", **ok) == 0
    # the mock answers 11 prompt + 22 completion tokens
    assert value(fams, "llm_relay_prompt_tokens", "llm_relay_prompt_tokens_total", **ok) == 33
    assert value(fams, "llm_relay_completion_tokens", "llm_relay_completion_tokens_total", **ok) == 66
    assert value(fams, "llm_relay_tokens", "llm_relay_tokens_total", **ok) == 99
    # a histogram: cumulative buckets ending in +Inf = count
    h = fams["llm_relay_upstream_latency_seconds"]
    assert h.type == "histogram"
    buckets = [(float(s.labels["le"]), s.value) for s in h.samples
               if s.name.endswith("_bucket") and s.labels["status"] == "200"]
    assert buckets == sorted(buckets) and buckets[-1] == (float("inf"), 3), buckets
    assert all(b[1] <= 3 for b in buckets)
    assert value(fams, "llm_relay_upstream_latency_seconds",
                 "llm_relay_upstream_latency_seconds_count", **ok) == 3
    # live gauges
    assert value(fams, "llm_relay_db_up") == 1
    assert value(fams, "llm_relay_upstream_slots") == 1
    assert value(fams, "llm_relay_upstream_slots_in_use") == 0
    assert value(fams, "llm_relay_queue_length", kind="polled") == 0
    assert value(fams, "llm_relay_today_requests") == 4
    assert value(fams, "llm_relay_metrics_pending_rows") == 0
    # scraping again counts nothing twice; new requests are added
    _, fams = scrape(env)
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", **ok) == 3
    assert call(env, req(), key).status == 200
    settle(env)
    _, fams = scrape(env)
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", **ok) == 4
    # secrets never appear
    assert b"upstream-secret-key-123" not in r.body and key.encode() not in r.body


def test_metrics_young_rows_wait_for_the_next_scrape(env):
    key = env.add_user("alice")
    assert call(env, req(), key).status == 200
    _, fams = scrape(env)
    # younger than 2 s: left for the next rollup, shown as pending
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total") == 0
    assert value(fams, "llm_relay_metrics_pending_rows") == 1
    settle(env)
    _, fams = scrape(env)
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total") == 1
    assert value(fams, "llm_relay_metrics_pending_rows") == 0


def test_metrics_access_allow_list_and_token(env):
    # the harness's CGI requests come from 127.0.0.1, in the default list
    assert scrape(env)[0].status == 200
    e = env.relay_env(RELAY_METRICS_ALLOW="10.0.0.0/8, fd00::/8")
    r, _ = scrape(env, env_over=e)
    assert_error(r, 403)
    assert b"metrics_allow" in r.body
    # an empty list refuses every address
    assert_error(scrape(env, env_over=env.relay_env(RELAY_METRICS_ALLOW=""))[0], 403)
    # a token opens it from anywhere; a wrong one is refused even from an
    # allowed address
    e = env.relay_env(RELAY_METRICS_ALLOW="", RELAY_METRICS_TOKEN="scrape-secret-1")
    assert scrape(env, headers={"Authorization": "Bearer scrape-secret-1"}, env_over=e)[0].status == 200
    assert_error(scrape(env, headers={"Authorization": "Bearer nope"}, env_over=e)[0], 403)
    e = env.relay_env(RELAY_METRICS_TOKEN="scrape-secret-1")
    assert_error(scrape(env, headers={"Authorization": "Bearer scrape-secret-2"}, env_over=e)[0], 403)
    # no token configured: a Bearer header opens nothing
    assert_error(scrape(env, headers={"Authorization": "Bearer "})[0], 403)
    # methods and a bad list
    assert_error(env.cgi("metrics", method="POST", body=b"x", uri="/metrics"), 405)
    assert env.cgi("metrics", method="HEAD", uri="/metrics").status == 200
    r = env.cgi("metrics", uri="/metrics", env=env.relay_env(RELAY_METRICS_ALLOW="10.0.0.0/33"))
    assert_error(r, 500)
    assert b"metrics_allow" in r.body


def test_metrics_through_both_servers(env):
    key = env.add_user("alice")
    for server in ("lighttpd", "apache"):
        port = env.start_lighttpd() if server == "lighttpd" else env.start_apache()
        base = "http://127.0.0.1:%d" % port
        assert call(env, req(), key, via=base).status == 200
        settle(env)
        r, fams = scrape(env, via=base)
        assert r.status == 200, (server, r.status, r.body[:300])
        assert value(fams, "llm_relay_db_up") == 1
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", status="200") == 2
    # a token through the web server (Apache must pass Authorization on)
    env.settings["RELAY_METRICS_ALLOW"] = ""
    env.settings["RELAY_METRICS_TOKEN"] = "scrape-secret-1"
    for server in ("lighttpd", "apache"):
        port = env.start_lighttpd() if server == "lighttpd" else env.start_apache()
        base = "http://127.0.0.1:%d" % port
        assert scrape(env, via=base)[0].status == 403, server
        r, _ = scrape(env, via=base, headers={"Authorization": "Bearer scrape-secret-1"})
        assert r.status == 200, server


def test_metrics_model_labels_are_capped(env):
    env.add_user("alice")
    uid = env.sql_value("SELECT id FROM users WHERE name = 'alice'")
    env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, http_status,"
            " created_at) SELECT %s, 0, 'chat', 'openai', CONCAT('m-', seq), 200,"
            " NOW() - INTERVAL 1 MINUTE FROM seq_1_to_250" % uid)
    r, fams = scrape(env)
    models = {s.labels["model"] for s in fams["llm_relay_requests"].samples}
    assert len(models) == 201 and "(other)" in models, len(models)
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total") == 250
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", model="(other)") == 50


def test_metrics_count_database_errors_once_it_is_back(env):
    key = env.add_user("alice")
    env.stop_db()
    try:
        r, fams = scrape(env)
        # the database is down: a valid exposition that says so
        assert r.status == 200 and value(fams, "llm_relay_db_up") == 0, r.text
        assert_error(call(env, req(), key), 500)
    finally:
        env.start_db()
    # the failed process is gone (CGI); a FastCGI one counts and adds its
    # failures with its next statement that works
    env.start_fcgi_app("status")
    env.stop_db()
    try:
        assert env.fcgi("status").status == 503
    finally:
        env.start_db()
    assert env.fcgi("status").status == 200
    _, fams = scrape(env)
    assert value(fams, "llm_relay_db_errors", "llm_relay_db_errors_total") >= 1, fams.keys()


def test_metrics_queue_gauges_and_wait_histogram(env):
    from common import hold_slot
    key = env.add_user("alice")
    t, box = hold_slot(env, key, 2)
    r = call(env, req(), key)
    assert r.status == 202, r.body
    _, fams = scrape(env)
    assert value(fams, "llm_relay_upstream_slots_in_use") == 1
    assert value(fams, "llm_relay_queue_length", kind="polled") == 1
    assert value(fams, "llm_relay_queue_length", kind="inline") == 0
    t.join()
    assert box["resp"].status == 200
    assert env.queue_worker("--once").returncode == 0
    assert env.sql_value("SELECT status FROM queue") == "completed"
    settle(env)
    _, fams = scrape(env)
    assert value(fams, "llm_relay_queue_length", kind="polled") == 0
    assert value(fams, "llm_relay_upstream_slots_in_use") == 0
    h = "llm_relay_queue_wait_seconds"
    assert value(fams, h, h + "_count", route="call") == 1, fams.get(h)
    assert value(fams, h, h + "_bucket", route="call", le="+Inf") == 1
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total", status="200") == 2


def test_console_usage_by_model_from_the_fold_and_the_tail(env):
    """The console's usage by model reads usage_model_daily (folded rows)
    plus the rows past the fold live: exact, and no scan of the log."""
    from test_console import ADMIN, ADMIN_PW, Client, make_admin, ok
    key = env.add_user("alice")
    make_admin(env)
    uid = env.sql_value("SELECT id FROM users WHERE name = 'alice'")
    # three days ago (admitted then), and older than the 7 days asked for
    env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, http_status,"
            " total_tokens, created_at, day) SELECT %s, 0, 'chat', 'openai', 'old-model', 200, 10,"
            " NOW() - INTERVAL 3 DAY, CURDATE() - INTERVAL 3 DAY FROM seq_1_to_5" % uid)
    env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, http_status,"
            " total_tokens, created_at, day) SELECT %s, 0, 'chat', 'openai', 'ancient', 200, 10,"
            " NOW() - INTERVAL 30 DAY, CURDATE() - INTERVAL 30 DAY FROM seq_1_to_5" % uid)
    scrape(env)   # folds the old rows (older than 2 s)
    got = [list(r) for r in env.sql("SELECT model, requests, tokens FROM usage_model_daily ORDER BY model")]
    assert got == [["ancient", "5", "50"], ["old-model", "5", "50"]], got
    # the newest rows are not folded yet: read live
    assert call(env, req(), key).status == 200
    assert call(env, req(mock={"status": 500}), key).status == 500
    c = Client(env, env.lighttpd_url if env.lighttpd_url else "http://127.0.0.1:%d" % env.start_lighttpd())
    c.login(ADMIN, ADMIN_PW)
    usage = ok(c.req("GET", "/api/v1/admin/usage?days=7"))
    models = {m["model"]: (m["requests"], m["tokens"], m["errors"]) for m in usage["models"]}
    assert models == {"old-model": (5, 50, 0), "gpt-test": (2, 33, 1)}, usage["models"]
    # once folded, the same answer (nothing counted twice)
    settle(env)
    scrape(env)
    usage = ok(c.req("GET", "/api/v1/admin/usage?days=7"))
    assert {m["model"]: (m["requests"], m["tokens"], m["errors"]) for m in usage["models"]} == models


def test_migration_015_on_a_log_with_history(env):
    """Upgrading a server that has a log: the counters start at its end,
    and usage_model_daily gets the history once."""
    env.add_user("alice")
    uid = env.sql_value("SELECT id FROM users WHERE name = 'alice'")
    env.sql("DROP TABLE usage_model_daily, metrics_state, metrics_totals, metrics_wait,"
            " metrics_db_errors, request_log_archive")
    # 024 adds columns to metrics_totals: re-applied after 015's tables
    env.sql("DELETE FROM schema_migrations WHERE version IN (15, 24)")
    env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, http_status,"
            " total_tokens, created_at, day) SELECT %s, 0, 'chat', 'openai',"
            " IF(MOD(seq, 2) = 0, 'a', 'b'), IF(MOD(seq, 10) = 0, 502, 200), 3,"
            " NOW() - INTERVAL MOD(seq, 4) DAY, CURDATE() - INTERVAL MOD(seq, 4) DAY"
            " FROM seq_1_to_400" % uid)
    r = env.relayctl("migrate")
    assert r.returncode == 0, r.stderr
    assert env.sql_value("SELECT last_id FROM metrics_state") == env.sql_value("SELECT MAX(id) FROM request_log")
    got = [list(x) for x in env.sql("SELECT day, model, requests, tokens, errors FROM usage_model_daily"
                                    " ORDER BY day, model")]
    want = [list(x) for x in env.sql("SELECT day, model, COUNT(*), SUM(total_tokens),"
                                     " SUM(http_status >= 400) FROM request_log GROUP BY day, model"
                                     " ORDER BY day, model")]
    assert got == want and len(got) == 4, (got, want)
    _, fams = scrape(env)
    assert value(fams, "llm_relay_requests", "llm_relay_requests_total") == 0
    assert value(fams, "llm_relay_metrics_pending_rows") == 0
    # migrating again changes nothing
    assert env.relayctl("migrate").returncode == 0
    assert [list(x) for x in env.sql("SELECT day, model, requests, tokens, errors FROM usage_model_daily"
                                     " ORDER BY day, model")] == got
