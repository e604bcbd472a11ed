"""GET /api/status.php (SPEC §6)."""
from common import assert_error, call, req


def test_status_healthy_shape(env):
    key = env.add_user("alice")
    env.add_user("bob")
    env.relayctl("user", "set", "bob", "--disable")
    call(env, req(), key)
    r = env.cgi("status")
    assert r.status == 200, r.body
    j = r.json()
    assert j["status"] == "healthy", j
    assert set(j) >= {"status", "timestamp", "checks", "stats", "config"}
    assert j["checks"]["database"] == {"status": "connected", "message": "Database connection OK"}
    assert j["checks"]["api_key"]["status"] == "configured"
    assert j["checks"]["api_urls"]["status"] == "configured"
    assert set(j["checks"]["api_urls"]["message"]) == {"openai", "anthropic"}
    assert j["checks"]["disk"]["status"] in ("ok", "warning", "critical")
    assert isinstance(j["checks"]["disk"]["usage_percent"], float)
    assert j["checks"]["disk"]["free_bytes"] > 0
    s = j["stats"]
    assert s["total_users"] == 2 and s["active_users"] == 1, s
    assert s["today_requests"] == 1 and s["today_tokens"] == 33 and s["today_errors"] == 0, s
    assert s["queue_length"] == 0 and s["processing"] == 0
    assert j["config"] == {"ssl_verify": False, "request_timeout": 30}
    import re
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", j["timestamp"])
    # the upstream key and URL paths never appear
    assert b"upstream-secret-key-123" not in r.body and b"/v1/" not in r.body


def test_status_degraded_and_methods(env):
    e = env.relay_env(RELAY_UPSTREAM_API_KEY="", RELAY_ANTHROPIC_URL="")
    j = env.cgi("status", env=e).json()
    assert j["status"] == "degraded" and j["checks"]["api_key"]["status"] == "missing", j
    assert j["checks"]["api_urls"]["message"]["anthropic"] == "not configured"
    assert_error(env.cgi("status", method="POST", body=b"x"), 405)
    assert env.cgi("status", method="HEAD").status == 200


def test_status_database_down(env):
    env.stop_db()
    try:
        r = env.cgi("status")
        j = r.json()
        assert r.status == 503 and j["status"] == "unhealthy", (r.status, j)
        assert j["checks"]["database"]["status"] == "error"
        assert "relay-pw" not in r.text and "relay@" not in r.text
        # call.php and queue_status answer 500 JSON, never crash
        assert_error(env.cgi("call", method="POST", headers={"X-API-Key": "sk-x",
                     "Content-Type": "application/json"}, body=b'{"model":"m","messages":[]}'), 500)
        assert_error(env.cgi("queue_status", query="queue_id=1", headers={"X-API-Key": "sk-x"}), 500)
    finally:
        env.start_db()
    assert env.cgi("status").status == 200


def test_status_disk_one_basis_one_decimal(env):
    """disk.usage_percent is df's Use% for users (f_bavail, the basis of
    free_bytes too) printed with one decimal, as the seed's 29.0; it was
    json-c's %.17g (8.5999999999999996) of f_bfree."""
    import os
    import re
    r = env.cgi("status")
    assert r.status == 200, r.body
    m = re.search(rb'"usage_percent":\s*([0-9.eE+-]+)', r.body)
    assert m and re.fullmatch(rb"\d+\.\d", m.group(1)), r.body
    disk = r.json()["checks"]["disk"]
    sv = os.statvfs("/")
    used = sv.f_blocks - sv.f_bfree
    want = 100.0 * used / (used + sv.f_bavail)
    # the file system moves between the two reads: a tenth of a percent
    assert abs(disk["usage_percent"] - want) <= 0.2, (disk, want)
    assert abs(disk["free_bytes"] - sv.f_bavail * sv.f_frsize) <= 0.01 * sv.f_blocks * sv.f_frsize


def test_status_and_metrics_say_which_metering_path(env):
    """Issue 30: meterd is on in every shipped deployment (the default
    meter_socket, the cron line); a relay without it still works, and
    status.php (checks.metering) and /metrics (llm_relay_meterd_up) say it
    runs on the slower path. The status stays healthy either way."""
    from test_metrics import scrape, value
    key = env.add_user("alice")

    def state():
        j = env.cgi("status").json()
        _, fams = scrape(env)
        return j["status"], j["checks"]["metering"]["status"], \
            value(fams, "llm_relay_meterd_up")

    assert state() == ("healthy", "slow_path", 0)          # meter_socket ""
    env.settings["RELAY_METER_SOCKET"] = env.tmp + "/nobody.sock"
    assert state() == ("healthy", "slow_path", 0)          # set, not served
    env.start_meterd()
    assert state() == ("healthy", "meterd", 1)
    assert call(env, req(), key).status == 200
    env.stop_meterd()
    assert state() == ("healthy", "slow_path", 0)
    assert call(env, req(), key).status == 200
