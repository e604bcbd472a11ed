"""bench/ops.py - the operator's figures of bench/run (issue 16).

* Portkey: the Portkey AI gateway (npm @portkey-ai/gateway, Node, no
  metering) installed into the run's temp folder and put in front of the
  same nginx upstream, as row (g) of section 1. Skipped with the reason
  printed when npm or the registry is not there.
* The other MariaDB settings: the relay through lighttpd and Apache once
  more on the tests' settings (innodb_flush_log_at_trx_commit=2, no
  doublewrite) when the run is durable, or on the durable defaults with
  --db-fast: rows (c') and (d') of section 1, one run, both settings.
* A log that grows for years (section 6): status.php, `relayctl usage`,
  GET /metrics, the admission procedure and a call, measured with an empty
  request_log and with N rows (default 10 million) spread over two years of
  days and 1,000 users, as ratios; then `relayctl log purge` of the oldest
  month in small batches while wrk keeps calling. The two logs take turns
  under the same table names (RENAME TABLE, one statement), round after
  round (empty, full, full, empty, ...), so a drift of the machine's pace
  over the minutes falls on both alike.

Only figures, never thresholds. Everything listens on 127.0.0.1.
"""

import http.client
import json
import os
import shutil
import statistics
import subprocess
import time

import harness

PORTKEY_PKG = "@portkey-ai/gateway"
PORTKEY_VERSION = "1.15.2"
# node's listen() is patched before the gateway loads so it binds to
# 127.0.0.1 only (start-server.js has no option for the address).
PORTKEY_PRELOAD = """// written by bench/ops.py: keep the gateway on the loopback interface
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\\d+$/.test(args[0]))) {
    const cb = args.find((a) => typeof a === 'function');
    return cb ? listen.call(this, Number(args[0]), '127.0.0.1', cb)
              : listen.call(this, Number(args[0]), '127.0.0.1');
  }
  if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].path)
    args[0] = Object.assign({}, args[0], { host: '127.0.0.1' });
  return listen.apply(this, args);
};
"""

LOG_USERS = 1000
LOG_DAYS = 730
LOG_CHUNK = 200000
# measurements of each log, in turns: E F F E E F F E (a linear drift
# cancels, and each log is as often first as second in a round)
LOG_ROUNDS = 4
# the empty log's tables while the full one is in use, and the reverse
TWINS = (("request_log", "request_log_twin"), ("daily_usage", "daily_usage_twin"))
MODELS = ("'MiniMax-M2.7'", "'gpt-4o-mini'", "'claude-sonnet-4'", "'deepseek-chat'", "'qwen-max'")


def median(xs):
    return statistics.median(xs) if xs else None


class Portkey:
    """The gateway in its own temp folder; start() returns its URL or None."""

    def __init__(self, base, log):
        self.dir = os.path.join(base, "portkey")
        self.log = log
        self.proc = None
        self.port = None
        self.why = None

    def install(self):
        if not shutil.which("npm") or not shutil.which("node"):
            self.why = "npm/node not installed"
            return False
        os.makedirs(self.dir, exist_ok=True)
        self.log("portkey: npm install %s@%s into %s" % (PORTKEY_PKG, PORTKEY_VERSION, self.dir))
        try:
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                                "--prefix", self.dir, "%s@%s" % (PORTKEY_PKG, PORTKEY_VERSION)],
                               capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            self.why = "npm install timed out"
            return False
        script = self.script()
        if r.returncode != 0 or not os.path.exists(script):
            self.why = "npm install failed: %s" % (r.stderr or r.stdout).strip()[-300:]
            return False
        with open(os.path.join(self.dir, "loopback.cjs"), "w") as f:
            f.write(PORTKEY_PRELOAD)
        return True

    def script(self):
        return os.path.join(self.dir, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")

    def start(self, popen):
        self.port = harness.free_port()
        env = dict(os.environ, NODE_ENV="production")
        out = open(os.path.join(self.dir, "gateway.log"), "ab")
        self.proc = popen(["node", "--require", os.path.join(self.dir, "loopback.cjs"), self.script(),
                           "--port=%d" % self.port, "--headless"], env=env, stdout=out, stderr=out)
        out.close()
        harness._wait_for(lambda: harness._port_open(self.port), 30, "portkey gateway", proc=self.proc,
                          log=os.path.join(self.dir, "gateway.log"))
        return "http://127.0.0.1:%d" % self.port

    @staticmethod
    def headers(upstream_base):
        """OpenAI as the provider, the bench upstream as its custom host."""
        return {"x-portkey-provider": "openai", "x-portkey-custom-host": upstream_base + "/v1",
                "Authorization": "Bearer sk-bench-upstream"}


def http_get_ms(port, path, n, headers=None):
    """n sequential keep-alive GETs; (median ms, statuses seen)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times, statuses = [], set()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            r.read()
            times.append((time.perf_counter() - t0) * 1000.0)
            statuses.add(r.status)
    finally:
        conn.close()
    return median(times), statuses


class Ops:
    def __init__(self, bench, log, popen, stop_proc, wrk_cls):
        self.b = bench
        self.log = log
        self.popen = popen
        self.stop_proc = stop_proc
        self.wrk_cls = wrk_cls

    # ------------------------------------------------------------ Portkey
    def portkey(self):
        b = self.b
        self.pk = pk = Portkey(b.env.tmp, self.log)
        if not pk.install():
            self.pk = None
            b.note("(g) Portkey gateway skipped: %s" % pk.why)
            b.out["g_skip"] = pk.why
            return
        try:
            url = pk.start(self.popen)
            wrk = self.wrk_cls(b.env.tmp, b.key, extra_headers=Portkey.headers(b.nginx.url_direct),
                               name="wrk-portkey")
            # sanity: the gateway really forwards to the bench upstream
            from_b = b.http_post(url + "/v1/chat/completions", b.req_body,
                                 dict(Portkey.headers(b.nginx.url_direct), **{"Content-Type": "application/json"}))
            if from_b[0] != 200 or b'"usage"' not in from_b[1]:
                raise harness.HarnessError("portkey answered %s %r" % (from_b[0], from_b[1][:200]))
            saved, b.wrk = b.wrk, wrk
            try:
                b.out["g"] = b.measure_target("(g) Portkey gateway", url + "/v1/chat/completions", b.warm)
            finally:
                b.wrk = saved
        finally:
            if pk.proc is not None:
                self.stop_proc(pk.proc)

    # ------------------------------------------------------------ head to head
    def _h2h_point(self, who, url, wrk, conns):
        b = self.b
        if who == "relay":
            return b.run_metered(url, conns, b.dur)
        return wrk.run(url, conns, b.dur)

    def head_to_head(self):
        """The issue's comparison once more, in turns: nginx direct (the
        added p50's zero), Portkey and the relay through lighttpd, 1 and 16
        connections, three rounds in the orders d p r, r p d, d p r, so a
        drift of the machine's pace over the minutes of section 1 falls on
        all three alike. Reported beside section 1 as medians."""
        b, env = self.b, self.b.env
        pk = getattr(self, "pk", None)
        if pk is None:
            return
        pk_wrk = self.wrk_cls(env.tmp, b.key, extra_headers=Portkey.headers(b.nginx.url_direct),
                              name="wrk-h2h")
        b.relay_settings(b.openai_nginx, 256)
        b.start_lighttpd_pool()
        try:
            urls = {"direct": (b.nginx.url_direct + "/v1/chat/completions", b.wrk),
                    "portkey": (pk.start(self.popen) + "/v1/chat/completions", pk_wrk),
                    "relay": (env.lighttpd_url + "/api/call.php", b.wrk)}
            for who, (url, wrk) in urls.items():   # warm-up, as section 1's
                self._h2h_point(who, url, wrk, 64)
            res = {1: [], 16: []}
            for r in range(3):
                order = ("direct", "portkey", "relay") if r % 2 == 0 else ("relay", "portkey", "direct")
                for conns in (1, 16):
                    turn = {}
                    for who in order:
                        url, wrk = urls[who]
                        turn[who] = self._h2h_point(who, url, wrk, conns)
                    res[conns].append(turn)
                    self.log("head to head, round %d, %d conns: %s" % (r + 1, conns, ", ".join(
                        "%s %s req/s p50 %s ms" % (w, _fint(turn[w].get("rps")), turn[w].get("p50"))
                        for w in order)))
            b.out["h2h"] = res
        finally:
            harness_lighttpd_stop(env)
            if pk.proc is not None:
                self.stop_proc(pk.proc)
                pk.proc = None

    def report_h2h(self, table):
        res = self.b.out.get("h2h")
        if not res:
            return []
        rows = []
        for conns in (1, 16):
            turns = res[conns]

            def med(who, k):
                return median([t[who][k] for t in turns if t[who].get(k) is not None])

            def added(t, who):
                p, d = t[who].get("p50"), t["direct"].get("p50")
                return p - d if p is not None and d is not None else None
            add = {w: median([x for x in (added(t, w) for t in turns) if x is not None])
                   for w in ("portkey", "relay")}
            rps_ratio = [t["relay"]["rps"] / t["portkey"]["rps"] for t in turns
                         if t["relay"].get("rps") and t["portkey"].get("rps")]
            p50_ratio = [added(t, "relay") / added(t, "portkey") for t in turns
                         if added(t, "relay") is not None and added(t, "portkey")]
            rows.append(["%d" % conns, _fint(med("portkey", "rps")), _fint(med("relay", "rps")),
                         "%.2f" % median(rps_ratio) if rps_ratio else "-",
                         " ".join("%.2f" % x for x in rps_ratio),
                         "%+.2f" % add["portkey"] if add["portkey"] is not None else "-",
                         "%+.2f" % add["relay"] if add["relay"] is not None else "-",
                         "%.2f" % median(p50_ratio) if p50_ratio else "-",
                         " ".join("%.2f" % x for x in p50_ratio)])
        return ["   head to head, in turns (3 rounds: nginx direct, Portkey (g), relay via lighttpd (c), then the"
                " reverse, then again; %d s each; medians; the relay counted once metered):" % self.b.dur,
                "   " + table(["conns", "(g) req/s", "(c) req/s", "(c)/(g)", "by round", "(g) p50 added ms",
                              "(c) p50 added ms", "(c)/(g)", "by round"], rows,
                             "rrrrlrrrl").replace("\n", "\n   ")]

    # ------------------------------------------------------------ other DB settings
    def restart_db(self, durable, extra_args=None):
        """MariaDB again with that durability (and those extra arguments,
        None = as they are), the web servers stopped."""
        env = self.b.env
        harness_lighttpd_stop(env)
        env.stop_apache()
        env.stop_db()
        env.db_durable = durable
        if extra_args is not None:
            env.db_extra_args = tuple(extra_args)
        env.start_db()

    def _remeasure(self, parts, keep):
        """Runs the parts (section 1's part_lighttpd, part_apache) again and
        files their results under new names: keep maps the run's key ("c",
        "cpu_per_call", ...) to the name it is kept as. The run's own results
        under those keys are put back after."""
        b = self.b
        saved = {k: b.out.get(k) for k in ("c", "d", "mem", "cpu_per_call", "sql")}
        try:
            for part in parts:
                part()
            for k, name in keep.items():
                b.out[name] = b.out[k]
        finally:
            for k, v in saved.items():
                if v is None:
                    b.out.pop(k, None)
                else:
                    b.out[k] = v

    def other_settings(self):
        """(c') and (d'): the relay again, on the other MariaDB settings."""
        b = self.b
        first = b.env.db_durable
        self.log("MariaDB: restarting with the %s settings" % ("tests' fast" if first else "durable"))
        self.restart_db(not first)
        try:
            v = dict(b.env.sql("SHOW GLOBAL VARIABLES WHERE Variable_name IN"
                               " ('innodb_flush_log_at_trx_commit', 'innodb_doublewrite')"))
            b.alt_settings = "innodb_flush_log_at_trx_commit=%s, innodb_doublewrite=%s (%s)" % (
                v.get("innodb_flush_log_at_trx_commit"), v.get("innodb_doublewrite"),
                "durable defaults" if not first else "the tests' settings")
            self._remeasure((b.part_lighttpd, b.part_apache), {"c": "c_alt", "d": "d_alt"})
        finally:
            self.log("MariaDB: back to the run's own settings")
            self.restart_db(first)

    def thread_per_conn(self):
        """(c''): the relay through lighttpd on the run's durability but
        MariaDB's default thread handling, a thread per connection (the
        shipped snippet, tools/mariadb-relay.cnf, uses the thread pool)."""
        b = self.b
        args, durable = b.env.db_extra_args, b.env.db_durable
        self.log("MariaDB: restarting with one thread per connection")
        self.restart_db(durable, tuple(args) + ("--thread-handling=one-thread-per-connection",))
        try:
            self._remeasure((b.part_lighttpd,), {"c": "c_tpc", "cpu_per_call": "cpu_tpc"})
        finally:
            self.log("MariaDB: back to the run's own thread handling")
            self.restart_db(durable, args)

    # ------------------------------------------------------------ a log of years
    def _ids(self):
        env = self.b.env
        key = self.b.key[0] if isinstance(self.b.key, list) else self.b.key
        import hashlib
        h = hashlib.sha256(key.encode()).hexdigest()
        return h, env.sql_value("SELECT user_id FROM api_keys WHERE key_hash = '%s'" % h)

    def _slap(self, query, n):
        return self.b.slap(query, n, timeout=600)[0]

    def _settle(self, limit_s=300):
        """Waits until InnoDB has caught up with a bulk load (dirty pages
        flushed, undo history purged), so the figures after it measure the
        log's size and not the load's aftermath. Returns the seconds waited."""
        env = self.b.env
        t0 = time.monotonic()
        seen = []
        cpu0 = _proc_cpu_s(env._db_proc.pid)
        while time.monotonic() - t0 < limit_s:
            st = dict(env.sql("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
                              " WHERE VARIABLE_NAME IN ('INNODB_BUFFER_POOL_PAGES_DIRTY',"
                              " 'INNODB_BUFFER_POOL_PAGES_TOTAL', 'INNODB_HISTORY_LIST_LENGTH')"))
            dirty = int(st.get("INNODB_BUFFER_POOL_PAGES_DIRTY", 0))
            total = max(1, int(st.get("INNODB_BUFFER_POOL_PAGES_TOTAL", 1)))
            hist = int(st.get("INNODB_HISTORY_LIST_LENGTH", 0))
            # InnoDB keeps some dirty pages for good when idle: done when
            # the history is purged and the dirty count stopped falling
            seen.append(dirty)
            # and mariadbd itself idle (< 5% of a core over the last
            # second): its page cleaner and checkpoint may still be working
            # off the load with few dirty pages left
            cpu1 = _proc_cpu_s(env._db_proc.pid)
            quiet = cpu0 is not None and cpu1 is not None and cpu1 - cpu0 < 0.05 and len(seen) > 1
            cpu0 = cpu1
            if hist < 1000 and quiet and (dirty * 100 < total or
                                          (len(seen) >= 4 and min(seen[-4:]) >= seen[-4])):
                break
            time.sleep(1.0)
        return time.monotonic() - t0

    def _measure(self, label):
        """The figures that must not depend on the log's size."""
        b, env = self.b, self.b.env
        waited = self._settle()
        # one untimed pass warms the caches the timed one reads
        http_get_ms(env.lighttpd_port, "/api/status.php", 10)
        b.run_metered(env.lighttpd_url + "/api/call.php", 16, 1)
        q = b.a.quick
        out = {"settle_s": waited}
        port = env.lighttpd_port
        # the machine's pace in this phase: the same web stack, no database
        # (call.php refuses a GET before anything else)
        out["ref_ms"], _codes = http_get_ms(port, "/api/call.php", 50 if q else 300)
        # beside each time, the rows MariaDB read for it (Handler_read_*
        # per call): a count, not a timing, and what would grow with the
        # log if anything read it
        n = 50 if q else 300
        h0 = handler_reads(env)
        out["status_ms"], out["status_codes"] = http_get_ms(port, "/api/status.php", n)
        out["status_rows"] = (handler_reads(env) - h0) / n
        n = 20 if q else 100
        h0 = handler_reads(env)
        out["metrics_ms"], out["metrics_codes"] = http_get_ms(port, "/metrics", n)
        out["metrics_rows"] = (handler_reads(env) - h0) / n
        t = []
        n = 5 if q else 15
        h0 = handler_reads(env)
        for _ in range(n):
            t0 = time.perf_counter()
            r = env.relayctl("usage")
            t.append((time.perf_counter() - t0) * 1000.0)
            if r.returncode != 0:
                out["usage_err"] = r.stderr.strip()[:200]
        out["usage_rows"] = (handler_reads(env) - h0) / n
        out["usage_ms"] = median(t)
        h, _uid = self._ids()
        out["admit_rps"] = self._slap(b.admit_sql(h), 4000 if q else 20000)
        url = env.lighttpd_url + "/api/call.php"
        out["call1"] = b.run_metered(url, 1, b.dur)
        out["call16"] = b.run_metered(url, 16, b.dur)
        self.log("log %s: status.php %.2f ms, /metrics %.2f ms, relayctl usage %.1f ms, relay_admit %s/s,"
                 " call p50 %s ms (1 conn), %s req/s (16 conns)" % (
                     label, out["status_ms"] or 0, out["metrics_ms"] or 0, out["usage_ms"] or 0,
                     "%.0f" % out["admit_rps"] if out["admit_rps"] else "-",
                     out["call1"].get("p50"), out["call16"].get("rps")))
        return out

    def _generate(self, n):
        env = self.b.env
        base = int(env.sql_value("SELECT COALESCE(MIN(id), 0) FROM users WHERE name LIKE 'logu%'"))
        span = LOG_DAYS * 86400
        t0 = time.monotonic()
        done = 0
        while done < n:
            k = min(LOG_CHUNK, n - done)
            # ids ascending with time: row i of n at (i / n) of two years ago -> now - 1 day
            env.sql("INSERT INTO request_log (user_id, key_id, route, format, model, stream, http_status,"
                    " prompt_tokens, completion_tokens, total_tokens, usage_known, latency_ms, error,"
                    " created_at, day)"
                    " SELECT %d + MOD(s.seq, %d), 0, IF(MOD(s.seq, 3) = 0, 'chat', 'call'), 'openai',"
                    " ELT(1 + MOD(s.seq, 5), %s), MOD(s.seq, 2), IF(MOD(s.seq, 50) = 0, 502, 200),"
                    " 100 + MOD(s.seq, 900), 50 + MOD(s.seq, 400), 150 + MOD(s.seq, 900) + MOD(s.seq, 400),"
                    " 1, 200 + MOD(s.seq, 5000), IF(MOD(s.seq, 50) = 0, 'upstream error', NULL),"
                    " t.ts, DATE(t.ts)"
                    " FROM seq_%d_to_%d s"
                    " JOIN (SELECT seq, NOW() - INTERVAL 1 DAY - INTERVAL %d SECOND"
                    "  + INTERVAL FLOOR(seq * %d / %d) SECOND AS ts FROM seq_%d_to_%d) t ON t.seq = s.seq"
                    % (base, LOG_USERS, ", ".join(MODELS), done + 1, done + k, span, span, n,
                       done + 1, done + k))
            done += k
            self.log("log: %d / %d rows (%.0f rows/s)" % (done, n, done / max(1e-9, time.monotonic() - t0)))
        return time.monotonic() - t0

    def _purge_under_load(self):
        """The oldest month goes in batches while wrk calls at 16 conns."""
        b, env = self.b, self.b.env
        days = LOG_DAYS - 30
        before = int(env.sql_value("SELECT COUNT(*) FROM request_log WHERE created_at < NOW() - INTERVAL %d DAY"
                                   % days))
        path = os.path.join(harness.ROOT, "bin", "relayctl")
        lg = open(os.path.join(env.tmp, "bench-purge.log"), "ab")
        t0 = time.monotonic()
        p = self.popen([path, "log", "purge", "--days", str(days)], env=env.relay_env(),
                       stdout=subprocess.PIPE, stderr=lg)
        lg.close()
        w = b.run_metered(env.lighttpd_url + "/api/call.php", 16, b.dur)
        try:
            out, _ = p.communicate(timeout=1800)
        finally:
            self.stop_proc(p, timeout=2)
        return {"rows": before, "seconds": time.monotonic() - t0, "rc": p.returncode,
                "out": out.decode("utf-8", "replace").strip(), "wrk": w}

    def _twins(self):
        """Empty twins of request_log and daily_usage, with the usage
        trigger and the foreign key of their own (CREATE TABLE ... LIKE
        copies neither), so the empty log is the real schema too."""
        env = self.b.env
        env.sql("DROP TABLE IF EXISTS request_log_twin, daily_usage_twin")
        for name, twin in TWINS:
            env.sql("CREATE TABLE %s LIKE %s" % (twin, name))
        env.sql("ALTER TABLE daily_usage_twin ADD CONSTRAINT fk_daily_usage_twin_user"
                " FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE")
        body = env.sql_value("SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS"
                             " WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'request_log_usage'")
        env.sql("DELIMITER //\nCREATE TRIGGER request_log_usage_twin AFTER INSERT ON request_log_twin"
                " FOR EACH ROW %s //\nDELIMITER ;\n" % body)
        self.current = "full"

    def _use(self, which):
        """Puts the empty (emptied again) or the full log under the real
        names, with everything idle; the metrics rollup starts at its end
        (as after an upgrade), so each turn rolls up only its own calls."""
        env = self.b.env
        if which == self.current:
            return
        env.wait_inflight(None, 60)
        if which == "empty":
            env.sql("TRUNCATE TABLE request_log_twin; TRUNCATE TABLE daily_usage_twin")
        env.sql("RENAME TABLE " + ", ".join("%s TO %s_swap, %s TO %s, %s_swap TO %s" % (
            n, n, t, n, n, t) for n, t in TWINS))
        env.sql("UPDATE metrics_state SET last_id = (SELECT COALESCE(MAX(id), 0) FROM request_log)"
                " WHERE id = 1")
        self.current = which
        # a renamed table makes every connection prepare its statements
        # and parse its procedures again at their next use: the 356 web
        # processes do that here, not in the timed figures (the turns
        # right after a swap ran up to 1.5x slower, the reference too)
        b = self.b
        b.run_metered(env.lighttpd_url + "/api/call.php", 64, 1 if b.a.quick else 3)
        http_get_ms(env.lighttpd_port, "/api/status.php", 50)
        http_get_ms(env.lighttpd_port, "/metrics", 50)

    def log_years(self):
        b, env = self.b, self.b.env
        n = b.a.log_rows or (200000 if b.a.quick else 10000000)
        rounds = 1 if b.a.quick else LOG_ROUNDS
        b.relay_settings(b.openai_nginx, 256)
        env.sql("INSERT IGNORE INTO users (name, daily_requests, daily_tokens)"
                " SELECT CONCAT('logu', seq), 0, 0 FROM seq_1_to_%d" % LOG_USERS)
        env.sql("TRUNCATE TABLE request_log")
        env.sql("UPDATE metrics_state SET last_id = 0")
        b.start_lighttpd_pool()
        self.current = None
        try:
            res = {"n": n, "empty": [], "full": []}
            self.log("log: generating %d rows over %d days and %d users" % (n, LOG_DAYS, LOG_USERS))
            res["gen_s"] = self._generate(n)
            res["daily_rows"] = int(env.sql_value("SELECT COUNT(*) FROM daily_usage"))
            # the metrics rollup starts at the log's end, as after an upgrade
            env.sql("UPDATE metrics_state SET last_id = (SELECT MAX(id) FROM request_log)")
            self._twins()
            # the bulk load's aftermath first, before either log is timed
            res["settle_s"] = self._settle()
            if not b.a.quick:
                # one turn not counted: the first after a pause ran faster
                # than any later one of either log (the reference too)
                self.log("log: a turn not counted, to warm up")
                self._measure("warm-up (%d rows)" % n)
            for r in range(rounds):
                for which in (("empty", "full") if r % 2 == 0 else ("full", "empty")):
                    self._use(which)
                    self.log("log: round %d/%d, the %s log" % (r + 1, rounds, which))
                    res[which].append(self._measure("%s (%d rows), round %d" % (
                        which, n if which == "full" else 0, r + 1)))
            self._use("full")
            self.log("log: relayctl log purge of the oldest 30 days while wrk calls")
            res["purge"] = self._purge_under_load()
            res["left"] = int(env.sql_value("SELECT COUNT(*) FROM request_log"))
        finally:
            harness_lighttpd_stop(env)
            if self.current == "empty":
                self._use("full")
            env.sql("DROP TABLE IF EXISTS request_log_twin, daily_usage_twin")
            env.sql("TRUNCATE TABLE request_log")
            env.sql("UPDATE metrics_state SET last_id = 0")
        b.out["log"] = res

    # ------------------------------------------------------------ report
    def report_log(self):
        o = self.b.out.get("log")
        L = ["", "6. A log that grows for years: empty request_log vs %s rows (%d days, %d users; ratio = empty / full"
             " for times, full / empty for rates: 1.00 = as fast)" % (
                 "{:,}".format(o["n"]) if o else "N", LOG_DAYS, LOG_USERS)]
        if not o or not o["empty"] or not o["full"]:
            L.append("   not measured")
            return L
        rounds = list(zip(o["empty"], o["full"]))
        e, f = _agg(o["empty"]), _agg(o["full"])

        def ratio_t(a, b):
            return "%.2f" % (a / b) if a and b else "-"

        def ratio_r(a, b):
            return "%.2f" % (b / a) if a and b else "-"

        def by_round(get, ratio):
            return " ".join(ratio(get(x), get(y)) for x, y in rounds)

        def rows_read(k):
            return ("%.0f / %.0f" % (e[k], f[k])) if e.get(k) is not None and f.get(k) is not None else ""
        figs = [  # label, getter, format, time (1) or rate (0), rows-read key
            ("reference: GET /api/call.php -> 405 (no database)", lambda x: x.get("ref_ms"), "%.2f ms", 1, None),
            ("GET /api/status.php (sequential, median)", lambda x: x.get("status_ms"), "%.2f ms", 1,
             "status_rows"),
            ("GET /metrics (sequential, median)", lambda x: x.get("metrics_ms"), "%.2f ms", 1, "metrics_rows"),
            ("relayctl usage (%d users, median wall time)" % (LOG_USERS + 1), lambda x: x.get("usage_ms"),
             "%.1f ms", 1, "usage_rows"),
            ("CALL relay_admit (mariadb-slap, 16 conns)", lambda x: x.get("admit_rps"), "%s/s", 0, None),
            ("call via lighttpd, 1 conn: p50", lambda x: x["call1"].get("p50"), "%s ms", 1, None),
            ("call via lighttpd, 16 conns: req/s", lambda x: x["call16"].get("rps"), "%s", 0, None),
        ]
        rows = []
        for label, get, fmt, is_time, rk in figs:
            ratio = ratio_t if is_time else ratio_r
            show = (lambda v, fmt=fmt: fmt % v if v is not None else "-") if is_time else \
                (lambda v, fmt=fmt: fmt % _fint(v))
            rows.append([label, show(get(e)), show(get(f)), ratio(get(e), get(f)), by_round(get, ratio),
                         rows_read(rk) if rk else ""])
        L.append(_table(["figure", "empty log", "full log", "ratio", "by round",
                         "rows read per call (empty / full)"], rows))
        L.append("   %d rounds after a turn not counted, the logs in turns (empty, full, full, empty, ...: RENAME"
                 " TABLE swaps the full request_log and daily_usage with empty twins of the same schema); empty"
                 " and full log = the medians of the rounds; by round = each round's ratio" % len(rounds))
        L.append("   reference: the machine's own pace in each turn, a request that reads no database; rows"
                 " read: MariaDB's Handler_read_* per call, the same work or not whatever the timings say")
        L.append("   generated in %.0f s (%s rows/s, the usage trigger included); daily_usage then has %s rows;"
                 " InnoDB settled (dirty pages flushed, undo purged) for %.0f s before the first round"
                 % (o["gen_s"], _fint(o["n"] / max(1e-9, o["gen_s"])), _fint(o["daily_rows"]),
                    o.get("settle_s", 0)))
        for k, x in (("empty", e), ("full", f)):
            codes = x["status_codes"] | x["metrics_codes"]
            if codes != {200}:
                L.append("   %s: status.php / metrics answered %s" % (k, sorted(codes)))
            if x.get("usage_err"):
                L.append("   %s: relayctl usage: %s" % (k, x["usage_err"]))
        p = o.get("purge")
        if p:
            w = p["wrk"]
            L.append("   relayctl log purge --days %d (%s rows, batches of 1,000, 20 ms apart): %.1f s, exit %s: %s"
                     % (LOG_DAYS - 30, _fint(p["rows"]), p["seconds"], p["rc"], p["out"][:160]))
            L.append("   calls meanwhile (16 conns, %d s): %s req/s (%s of the full-log figure), p50 %s ms, p99 %s ms"
                     % (self.b.dur, _fint(w.get("rps")),
                        ratio_r(f["call16"].get("rps"), w.get("rps")), w.get("p50"), w.get("p99")))
        return L


def _agg(outs):
    """The medians of several turns' figures (section 6)."""
    keys = ("ref_ms", "status_ms", "metrics_ms", "usage_ms", "admit_rps", "status_rows", "metrics_rows",
            "usage_rows")
    out = {k: median([x[k] for x in outs if x.get(k) is not None]) for k in keys}
    out["call1"] = {"p50": median([x["call1"]["p50"] for x in outs if x["call1"].get("p50") is not None])}
    out["call16"] = {"rps": median([x["call16"]["rps"] for x in outs if x["call16"].get("rps") is not None])}
    out["status_codes"] = set().union(*(x["status_codes"] for x in outs))
    out["metrics_codes"] = set().union(*(x["metrics_codes"] for x in outs))
    out["usage_err"] = next((x["usage_err"] for x in outs if x.get("usage_err")), None)
    return out


def _proc_cpu_s(pid):
    """CPU seconds (user + system) a process has used, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _fint(v):
    return "{:,}".format(int(round(v))) if v is not None else "-"


def handler_reads(env):
    """MariaDB's rows read so far (every Handler_read_* counter)."""
    return sum(int(v) for _k, v in env.sql("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM"
                                           " information_schema.GLOBAL_STATUS"
                                           " WHERE VARIABLE_NAME LIKE 'HANDLER_READ%'"))


def _table(headers, rows):
    w = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda cells: "  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i])
                                   for i, c in enumerate(cells)).rstrip()
    return "\n".join([line(headers), "  ".join("-" * x for x in w)] + [line(r) for r in rows])


def harness_lighttpd_stop(env):
    try:
        env.stop_lighttpd()
    except Exception:
        pass
