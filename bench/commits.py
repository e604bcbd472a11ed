#!/usr/bin/env python3
"""Durable commits per request (issue 16): runs N requests of each kind
against a MariaDB with its durable defaults and prints, per request, the
fsyncs (Innodb_data_fsyncs: MariaDB 10.11 counts the redo
log's there), redo log writes (Innodb_log_writes), read-write transaction commits
(INNODB_METRICS trx_rw_commits) and Handler_commit. These are counts, not
timings: the figures do not depend on the machine's load.

  python3 bench/commits.py [N] [--floor]     (default N = 20)

Kinds: direct (a slot is free), inline (X-Relay-Wait while the one slot is
held; the holder's own commits are subtracted), polled (202, then run by
`queue_worker --once`; the holder subtracted likewise)."""
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
from common import call, jbody, req, wait_until  # noqa: E402,F401


def counters(env):
    rows = env.sql("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
                   " WHERE VARIABLE_NAME IN ('INNODB_DATA_FSYNCS', 'INNODB_LOG_WRITES', 'HANDLER_COMMIT')")
    d = {r[0].lower(): int(r[1]) for r in rows}
    d["trx_rw_commits"] = int(env.sql_value(
        "SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rw_commits'"))
    return d


def delta(a, b):
    return {k: b[k] - a[k] for k in a}


def hold(env, key, seconds):
    box = {}

    def run():
        box["r"] = call(env, req(mock={"stall": seconds}), key, via="fcgi", timeout=seconds + 30)
    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: len(env.mock_requests()) >= 1, what="the slot holder")
    return t, box


def measure(env, key, kind, n):
    per = []
    for _ in range(n):
        env.mock_reset()
        if kind == "direct":
            a = counters(env)
            r = call(env, req(), key, via="fcgi")
            assert r.status == 200, r
            wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log") != "0")
            b = counters(env)
        else:
            a = counters(env)
            t, box = hold(env, key, 1)
            if kind == "inline":
                r = call(env, req(), key, via="cgi", headers={"X-Relay-Wait": "30"})
                assert r.status == 200, r
            else:
                r = call(env, req(), key, via="cgi")
                assert r.status == 202, r
            t.join()
            if kind == "polled":
                env.queue_worker("--once")
            wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM request_log") == "2")
            b = counters(env)
        per.append(delta(a, b))
        env.sql("DELETE FROM request_log; DELETE FROM queue")
    tot = {k: sum(p[k] for p in per) for k in per[0]}
    return {k: v / n for k, v in tot.items()}


def floor(env, n=200):
    """Milliseconds per commit of a bare one-row INSERT (autocommit) on this
    server, through one mariadb client session: the cost of one fsync."""
    import subprocess
    import time
    env.sql("CREATE TABLE IF NOT EXISTS bench_floor (id INT AUTO_INCREMENT PRIMARY KEY,"
            " v INT) ENGINE=InnoDB")
    script = "".join("INSERT INTO bench_floor (v) VALUES (%d);\n" % i for i in range(n))
    t0 = time.monotonic()
    subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + env.db_sock,
                    "llm_relay"], input=script.encode(), check=True)
    ms = (time.monotonic() - t0) * 1000.0 / n
    env.sql("DROP TABLE bench_floor")
    return ms


def main():
    args = [a for a in sys.argv[1:] if a != "--floor"]
    n = int(args[0]) if args else 20
    harness.Env.db_durable = True
    env = harness.Env()
    try:
        env.start_db()
        env.start_mock()
        env.migrate()
        env.sql("SET GLOBAL innodb_monitor_enable = 'trx_rw_commits'")
        key = env.add_user("bench", daily_requests=0, daily_tokens=0)
        direct = measure(env, key, "direct", n)
        inline = measure(env, key, "inline", n)
        polled = measure(env, key, "polled", n)
        # inline and polled ran with a direct holder: subtract it
        for d in (inline, polled):
            for k in d:
                d[k] -= direct[k]
        print("per request (N=%d)      fsyncs  log_writes  rw_commits  handler_commit" % n)
        for name, d in (("direct", direct), ("inline waiter", inline), ("polled (202)", polled)):
            print("%-22s %7.2f %11.2f %11.2f %15.2f" % (
                name, d["innodb_data_fsyncs"], d["innodb_log_writes"], d["trx_rw_commits"],
                d["handler_commit"]))
        if "--floor" in sys.argv:
            print("bare INSERT commit on this server: %.3f ms (a timing: quiet machine only)"
                  % floor(env))
    finally:
        env.close() if hasattr(env, "close") else harness._close_all()


if __name__ == "__main__":
    main()
