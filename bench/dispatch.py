"""bench/dispatch.py - the dispatcher's figures (issue 10), used by bench/run.

Three measurements, each against a floor or baseline taken in the same run:

* drain:    4 slots busy, 12 items of 1 s each waiting (polled 202s drained by
            the cron-mode queue_worker, and inline waiters on /v1); wall time
            from the first slot freeing to the last item done, next to the
            floor 12 / 4 x 1 s.
* wake-up:  4 slots freeing one after another, an inline waiter behind each;
            the time from the upstream answering a holder to the next waiter
            reaching the upstream, next to a direct call's client-send to
            upstream time (what the relay costs without any waiting).
* capacity: N concurrent streaming clients (default 256) on /v1 through
            lighttpd and through Apache, 4 slots: 4 stream, the rest wait
            inline.  Total PSS of the relay's processes and MariaDB
            connections and statements per second while they wait, then the
            per-event SSE delay (relay vs the mock's send times), 5xx count
            and the upstream start order against the arrival order.
"""

import bisect
import json
import os
import threading
import time

import harness

SLOTS = 4


def _req(tag, mock, stream=False, model="bench-dispatch"):
    b = {"model": model, "messages": [{"role": "user", "content": tag}], "mock": mock}
    if stream:
        b["stream"] = True
    return json.dumps(b)


def _tag_of(rec):
    try:
        return json.loads(rec["body"])["messages"][0]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise harness.HarnessError("timed out waiting for " + what)


def _waiting(env):
    return int(env.sql_value("SELECT COUNT(*) FROM queue WHERE status = 'waiting'") or 0)


def _bg(fn, *a):
    box = {}

    def run():
        try:
            box["r"] = fn(*a)
        except Exception as e:  # reported by the caller
            box["err"] = "%s: %s" % (type(e).__name__, e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def _unordered(seq):
    """How many items must be taken out of seq for the rest to be sorted."""
    tails = []
    for x in seq:
        k = bisect.bisect_left(tails, x)
        tails[k:k + 1] = [x]
    return len(seq) - len(tails)


class Dispatch:
    def __init__(self, bench, http_post, stream_post, log):
        self.b = bench
        self.log = log
        self.env = bench.env
        self.http_post = http_post
        self.stream_post = stream_post
        self.key = bench.key[0] if isinstance(bench.key, list) else bench.key

    def _lighttpd(self):
        self._settings()
        self.env.start_lighttpd()
        return self.env.lighttpd_url

    def _settings(self):
        env = self.env
        env.settings["RELAY_OPENAI_URL"] = env.mock_url + "/v1/chat/completions"
        env.settings["RELAY_UPSTREAM_SLOTS"] = str(SLOTS)
        env.settings["RELAY_QUEUE_MAX"] = str(max(300, self.b.a.clients + 16))
        env.settings["RELAY_QUEUE_WAIT_MAX"] = "600"

    def _holders(self, url, seconds, n=SLOTS):
        """n direct calls that each hold a slot; returns their threads once
        all n are at the upstream."""
        env = self.env
        before = len(env.mock_requests())
        ts = []
        for i, s in enumerate(seconds if isinstance(seconds, list) else [seconds] * n):
            ts.append(_bg(self.http_post, url + "/api/call.php",
                          _req("holder-%d" % i, {"stall": s}), {"X-API-Key": self.key}, 120))
        _wait(lambda: len(env.mock_requests()) >= before + len(ts), 30, "holders upstream")
        return ts

    # ------------------------------------------------------------ drain
    def drain(self):
        env = self.env
        url = self._lighttpd()
        out = {}
        for mode in ("polled", "inline"):
            env.mock_reset()
            env.sql("DELETE FROM queue")
            holders = self._holders(url, 1.0)
            waiters = []
            for i in range(12):
                body = _req("item-%d" % i, {"stall": 1.0})
                if mode == "polled":
                    st, data = self.http_post(url + "/api/call.php", body, {"X-API-Key": self.key})
                    if st != 202:
                        raise harness.HarnessError("drain: item %d answered %s %r" % (i, st, data[:200]))
                else:
                    waiters.append(_bg(self.http_post, url + "/v1/chat/completions", body,
                                       {"Authorization": "Bearer " + self.key}, 120))
            if mode == "inline":
                _wait(lambda: _waiting(env) >= 12, 30, "12 inline waiters")
            # as the shipped cron entry starts it (one process per slot)
            w = env.start_queue_worker("--max-seconds", "60", env=env.relay_env()) if mode == "polled" else None
            try:
                for t, _ in holders + waiters:
                    t.join(120)
                _wait(lambda: sum(1 for r in env.mock_requests() if "stall_end" in r) >= 16, 60,
                      "16 upstream requests done")
            finally:
                if w is not None:
                    harness._kill_tree(w, timeout=10)
                    env._running.discard(w)
            recs = env.mock_requests()
            held = [r for r in recs if (_tag_of(r) or "").startswith("holder")]
            items = [r for r in recs if (_tag_of(r) or "").startswith("item")]
            ev = sorted([(r["time"], 1) for r in recs] + [(r["stall_end"], -1) for r in recs])
            cur = peak = 0
            for _t, d in ev:
                cur += d
                peak = max(peak, cur)
            bad = [b for _, b in waiters if (b.get("r") or (None,))[0] != 200]
            out[mode] = {"wall": max(r["stall_end"] for r in items) - min(r["stall_end"] for r in held),
                         "peak": peak, "n": len(items), "bad": len(bad)}
            self.log("dispatch drain (%s): %.2f s, peak overlap %d" % (mode, out[mode]["wall"], peak))
            if os.environ.get("BENCH_DEBUG"):
                t0 = min(r["stall_end"] for r in held)
                self.log("  holder ends %s; item starts %s" % (
                    sorted(round(r["stall_end"] - t0, 3) for r in held),
                    sorted(round(r["time"] - t0, 3) for r in items)))
        env.sql("DELETE FROM queue")
        self.b.out["ddrain"] = out

    # ------------------------------------------------------------ wake-up
    def wake(self):
        env = self.env
        url = self._lighttpd()
        reps = self.b.wake_reps
        lat, base = [], []
        for rep in range(reps):
            env.mock_reset()
            # slots free 150 ms apart, in a different order each round
            stalls = [0.5 + 0.15 * ((k + rep) % SLOTS) for k in range(SLOTS)]
            holders = self._holders(url, stalls)
            waiters = []
            for i in range(SLOTS):
                # each keeps the slot it gets, so the next waiter needs the next freed one
                waiters.append(_bg(self.http_post, url + "/v1/chat/completions",
                                   _req("waiter-%d" % i, {"stall": 1.0}),
                                   {"Authorization": "Bearer " + self.key}, 60))
                _wait(lambda n=i + 1: _waiting(env) >= n, 30, "waiter %d" % i)
            for t, _ in holders + waiters:
                t.join(60)
            recs = env.mock_requests()
            ends = sorted(r["stall_end"] for r in recs if (_tag_of(r) or "").startswith("holder"))
            starts = sorted(r["time"] for r in recs if (_tag_of(r) or "").startswith("waiter"))
            if len(ends) != SLOTS or len(starts) != SLOTS:
                self.b.note("wake-up round %d: %d holders, %d waiters at the upstream" % (rep, len(ends), len(starts)))
                continue
            if os.environ.get("BENCH_DEBUG"):
                self.log("wake round %d: ends %s starts %s" % (rep, [round(e - ends[0], 3) for e in ends],
                                                              [round(x - ends[0], 3) for x in starts]))
            lat.extend((s - e) * 1000.0 for s, e in zip(starts, ends))
        # baseline: a direct call with a free slot, client send -> upstream
        for i in range(max(10, reps * 2)):
            env.mock_reset()
            t0 = time.time()
            self.http_post(url + "/v1/chat/completions", _req("direct", {}),
                           {"Authorization": "Bearer " + self.key})
            recs = env.mock_requests()
            if recs:
                base.append((recs[0]["time"] - t0) * 1000.0)
        self.b.out["dwake"] = {"lat": lat, "base": base}

    # ------------------------------------------------------------ capacity
    def _relay_pids(self, root_pid):
        table = harness._proc_table()
        out = []
        for pid in harness._descendants(root_pid, table):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() in ("call", "v1", "status", "queue_status", "docs", "console"):
                        out.append(pid)
            except OSError:
                pass
        return out

    @staticmethod
    def _comm(pid):
        try:
            with open("/proc/%d/comm" % pid) as f:
                return f.read().strip()
        except OSError:
            return ""

    @staticmethod
    def _pss_kib(pids):
        tot = 0
        for pid in pids:
            try:
                with open("/proc/%d/smaps_rollup" % pid) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            tot += int(line.split()[1])
                            break
            except OSError:
                pass
        return tot

    def _dbvar(self, name):
        return int(self.env.sql_value("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
                                      " WHERE VARIABLE_NAME = '%s'" % name) or 0)

    def capacity(self, server, label=None, keep=False):
        env = self.env
        label = label or server
        n = self.b.a.clients
        if server == "lighttpd":
            self._lighttpd()
            port, root = env.lighttpd_port, env._lighttpd["proc"].pid
            # lighttpd starts the whole pool up front: wait for all of it, or
            # the first clients meet a half-started pool
            want = env.relay_procs()
            _wait(lambda: len([p for p in self._relay_pids(root) if self._comm(p) == "call"]) >= want,
                  120, "%d call processes" % want)
        else:
            self._settings()
            env.stop_lighttpd()
            port = env.start_apache()    # reused when it still runs (a warm pool)
            root = env._apache["proc"].pid
        env.mock_reset()
        env.sql("DELETE FROM queue")
        env.sql("FLUSH STATUS")
        hold_s = 15.0 if not self.b.a.quick else 6.0
        hdr = {"Authorization": "Bearer " + self.key}
        ev_mock = {"mode": "stream", "n": 15, "delay": 0.02, "record_send_times": True}
        clients = []
        t_launch = time.time()
        for i in range(n):
            mock = dict(ev_mock)
            if i < SLOTS:
                mock["stall"] = hold_s      # the four that stream first hold the slots a while
            # the tag is the model too: the queue rows then show the order
            # in which the relay saw them arrive
            clients.append(_bg(self.stream_post, port, "/v1/chat/completions",
                               _req("c%03d" % i, mock, stream=True, model="c%03d" % i), hdr, 900))
            time.sleep(0.005)               # a known arrival order
        problems = []
        try:
            prog = {"max": -1, "t": time.monotonic()}

            def enough():
                w = _waiting(env)
                if w > prog["max"]:
                    prog["max"], prog["t"] = w, time.monotonic()
                elif time.monotonic() - prog["t"] > 10:
                    raise harness.HarnessError("only %d of %d clients waiting inline (no more for 10 s)"
                                               % (prog["max"], n - SLOTS))
                return w >= n - SLOTS
            _wait(enough, 300, "%d inline waiters" % (n - SLOTS))
            arrived = time.time() - t_launch
            # the steady state of waiting, nobody at the upstream finishes yet:
            # past every waiter's first keep-alive tick (3 s), before the next (15 s)
            if not self.b.a.quick:
                time.sleep(3.5)
            q0, s0, t0 = self._dbvar("QUESTIONS"), self._dbvar("QUERIES"), time.monotonic()
            time.sleep(4.0 if not self.b.a.quick else 2.0)
            q1, s1, t1 = self._dbvar("QUESTIONS"), self._dbvar("QUERIES"), time.monotonic()
            pids = self._relay_pids(root)
            pss = self._pss_kib(pids)
            conns = self._dbvar("THREADS_CONNECTED")
        except harness.HarnessError as e:
            problems.append(str(e))
            arrived, q0, q1, s0, s1, t0, t1, pids, pss, conns = None, 0, 0, 0, 0, 0, 1, [], 0, 0
        for t, _ in clients:
            t.join(900)
        recs = env.mock_requests()
        delays, st = [], {}
        order = [_tag_of(r) for r in recs]
        by_tag = {_tag_of(r): r for r in recs}
        for i, (_t, box) in enumerate(clients):
            r = box.get("r")
            if not r:
                st["error"] = st.get("error", 0) + 1
                problems.append("client %d: %s" % (i, box.get("err")))
                continue
            st[r["status"]] = st.get(r["status"], 0) + 1
            if r["status"] == 200 and b"[DONE]" not in r["body"]:
                st["200 without [DONE]"] = st.get("200 without [DONE]", 0) + 1
                problems.append("client %d: %r" % (i, r["body"][-300:]))
            sends = (by_tag.get("c%03d" % i) or {}).get("send_times") or []
            # the client's data events in order (not the ': queued' comments),
            # paired from the first: the relay drops the usage-only chunk it
            # asked for near the end (stream_usage), so the tails differ
            parts = r["body"].split(b"\n\n")
            evs = [t for t, p in zip(r["events"], parts) if p.strip() and not p.lstrip().startswith(b":")]
            delays.extend((a - b) * 1000.0 for a, b in zip(evs, sends[:len(evs) - 1]))
        if len(recs) != n:
            seen = set(_tag_of(r) for r in recs)
            problems.append("%d upstream requests for %d clients; missing: %s" % (
                len(recs), n, [t for t in ("c%03d" % i for i in range(n)) if t not in seen][:10]))
        # out of order = how many must be taken out for the rest to be in
        # order (n - longest increasing run): upstream starts against the
        # relay's own queue order (queue ids), and the relay's arrivals
        # against the order the clients were started in (the web server's
        # and the client threads' share)
        rank = {m: k for k, (m,) in enumerate(env.sql(
            "SELECT model FROM queue WHERE model LIKE 'c%' ORDER BY id"))}
        # (two slots that free within a millisecond start two waiters whose
        # requests race to the upstream: only a start that overtook an earlier
        # one by more than 2 ms counts)
        starts = [(r["time"], rank[_tag_of(r)]) for r in recs if _tag_of(r) in rank]
        late = sum(1 for t, k in starts if any(k2 < k and t2 > t + 0.002 for t2, k2 in starts)) \
            if starts else None
        if os.environ.get("BENCH_DEBUG"):
            for t, k in starts:
                over = [round((t2 - t) * 1000, 1) for t2, k2 in starts if k2 < k and t2 > t + 0.002]
                if over:
                    self.log("queue rank %d overtook %d earlier ones by up to %.1f ms" % (k, len(over), max(over)))
        arrival = _unordered([int(m[1:]) for m in sorted(rank, key=rank.get)])
        if os.environ.get("BENCH_DEBUG"):
            self.log("capacity %s upstream order: %s" % (label, order))
        self.b.out.setdefault("dcap", {})[label] = {
            "n": n, "status": st, "arrived_s": arrived, "procs": len(pids), "pss_kib": pss,
            "conns": conns, "max_conns": self._dbvar("MAX_USED_CONNECTIONS"),
            "questions_s": (q1 - q0) / max(1e-9, t1 - t0), "queries_s": (s1 - s0) / max(1e-9, t1 - t0),
            "delays": delays, "out_of_order": late, "arrival_disorder": arrival, "upstream": len(recs), "problems": problems[:5]}
        self.log("capacity %s: %s, %d procs, PSS %.0f MiB, %d DB connections" % (
            label, st, len(pids), pss / 1024.0, conns))
        if server == "lighttpd":
            env.stop_lighttpd()
        elif keep is False:
            env.stop_apache()
