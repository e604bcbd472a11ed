"""Deployment (issue 5): make install and the one-command demo."""
import os
import re
import stat
import subprocess

from harness import ROOT, free_port


def test_make_install_honours_destdir_prefix(env):
    dest = os.path.join(env.tmp, "destdir")
    r = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/opt/relay"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    base = dest + "/opt/relay"
    for f in ("lib/llm-relay/cgi-bin/call", "lib/llm-relay/cgi-bin/status",
              "lib/llm-relay/cgi-bin/queue_status", "bin/relayctl", "bin/queue_worker",
              "share/llm-relay/sql/schema/001_init.sql",
              "share/llm-relay/sql/schema/022_daily_usage_by_day.sql",
              "share/llm-relay/sql/routines/relay_admit.sql",
              "share/llm-relay/sql/routines/request_log_usage.sql",
              "share/llm-relay/sql/routines/inflight_open.sql",
              "share/llm-relay/examples/relay.conf",
              "share/llm-relay/examples/apache.conf", "share/llm-relay/examples/lighttpd.conf",
              "share/llm-relay/examples/llm-relay", "lib/llm-relay/cgi-bin/metrics",
              "share/llm-relay/examples/mariadb-relay.cnf"):
        assert os.path.exists(os.path.join(base, f)), f
    # every schema migration and routine file, and nothing of the old flat sql/
    for d in ("schema", "routines"):
        assert sorted(os.listdir(os.path.join(base, "share/llm-relay/sql", d))) == \
            sorted(os.listdir(os.path.join(ROOT, "sql", d))), d
    assert sorted(os.listdir(base + "/share/llm-relay/sql")) == ["routines", "schema"]
    mode = stat.S_IMODE(os.stat(base + "/share/llm-relay/examples/relay.conf").st_mode)
    assert mode == 0o600, oct(mode)
    assert os.access(base + "/bin/relayctl", os.X_OK)


def test_run_and_stop_demo(env):
    run_dir = os.path.join(env.tmp, "demo")
    port = free_port()
    e = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    e.update(RELAY_RUN_DIR=run_dir, PORT=str(port), RELAY_NO_BUILD="1")
    try:
        r = subprocess.run(["sh", "tools/run.sh", "start"], cwd=ROOT, env=e, capture_output=True,
                           text=True, timeout=180)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "MOCK" in r.stdout and "http://127.0.0.1:%d/api/" % port in r.stdout, r.stdout
        key = re.search(r"API key: (sk-\S+)", r.stdout).group(1)
        # the printed curl command works as printed
        cmd = [l.strip().rstrip("\\").strip() for l in r.stdout.splitlines()
               if l.startswith("  curl -s -X POST") or l.startswith("    -")]
        shell = " ".join(cmd)
        out = subprocess.run(shell, shell=True, capture_output=True, text=True, timeout=30)
        assert '"chat.completion"' in out.stdout, (shell, out.stdout, out.stderr)
        # the printed stream commands get real event streams from the mock
        streams = [l.strip() for l in r.stdout.splitlines() if l.startswith("  curl -sN ")]
        assert len(streams) == 2, r.stdout
        for shell, last in zip(streams, ("data: [DONE]", "event: message_stop")):
            out = subprocess.run(shell, shell=True, capture_output=True, text=True, timeout=30)
            assert out.stdout.count("data: ") >= 4 and last in out.stdout, (shell, out.stdout)
        st = env.http("http://127.0.0.1:%d/api/status.php" % port).json()
        assert st["status"] == "healthy" and st["stats"]["today_requests"] == 3, st
        # the printed metrics URL answers from 127.0.0.1 (metrics_allow's default)
        murl = "http://127.0.0.1:%d/metrics" % port
        assert "curl -s " + murl in r.stdout, r.stdout
        m = env.http(murl)
        assert m.status == 200 and b"llm_relay_db_up 1" in m.body, (m.status, m.body[:300])
        # its MariaDB runs with tools/mariadb-relay.cnf: durable
        dur = subprocess.run(["mariadb", "--no-defaults", "-S", os.path.join(run_dir, "db.sock"),
                              "-uroot", "-N", "-B", "-e",
                              "SELECT @@innodb_flush_log_at_trx_commit, @@innodb_doublewrite"],
                             capture_output=True, text=True, timeout=30)
        assert dur.stdout.split() == ["1", "1"], (dur.stdout, dur.stderr)
        # re-running is safe and keeps the key
        r2 = subprocess.run(["sh", "tools/run.sh", "start"], cwd=ROOT, env=e, capture_output=True,
                            text=True, timeout=180)
        assert r2.returncode == 0 and key in r2.stdout, (r2.stdout, r2.stderr)
    finally:
        subprocess.run(["sh", "tools/run.sh", "stop"], cwd=ROOT, env=e, capture_output=True, timeout=120)
    for f in ("db.pid", "web.pid", "mock.pid", "worker.pid"):
        assert not os.path.exists(os.path.join(run_dir, f)), f
    import socket
    s = socket.socket()
    assert s.connect_ex(("127.0.0.1", port)) != 0
    s.close()
