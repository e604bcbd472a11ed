"""bench/backends.py - figures of the backend pool (issue 13), used by bench/run.

Two measurements, each next to its floor or baseline from the same run:

* drain:   two backends (two mock upstreams) with 2 slots each, the legacy
           default off; 40 inline waiters of 1 s each on /v1 (quick: 12).
           Wall time from the first upstream start to the last upstream end,
           next to the floor 40 / 4 x 1 s = 10 s, the peak overlap per
           backend (never above 2) and in all (4).
* routing: added latency of choosing a backend with 50 backends configured
           (49 for other models) against 1: p50 / p99 of sequential direct
           calls on /v1/chat/completions through lighttpd, same mock, no
           waiting, in interleaved rounds (the 49 enabled and disabled in
           turn), with the round-to-round spread of each setup as the noise.
"""

import json
import threading
import time

import harness

SLOTS_EACH = 2


def _req(tag, mock, model="bench-backends"):
    return json.dumps({"model": model, "messages": [{"role": "user", "content": tag}],
                       "mock": mock})


def _overlap(recs):
    ev = sorted([(r["time"], 1) for r in recs if "stall_end" in r] +
                [(r["stall_end"], -1) for r in recs if "stall_end" in r])
    cur = peak = 0
    for _t, d in ev:
        cur += d
        peak = max(peak, cur)
    return peak


def _pct(vals, p):
    v = sorted(vals)
    if not v:
        return 0.0
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


class Backends:
    def __init__(self, bench, http_post, log, quick=False):
        self.b = bench
        self.env = bench.env
        self.http_post = http_post
        self.log = log
        self.quick = quick
        self.key = bench.key[0] if isinstance(bench.key, list) else bench.key

    def _relayctl(self, *args, key=None):
        a = ["backend"] + [str(x) for x in args]
        if key is not None:
            a += ["--key", "-"]
        r = self.env.relayctl(*a, input=(key + "\n") if key is not None else None)
        if r.returncode != 0:
            raise harness.HarnessError("relayctl %s: %s" % (" ".join(a), r.stderr.strip()))

    def _clear(self):
        self.env.sql("DELETE FROM backends; DELETE FROM backend_state; DELETE FROM queue")
        self.env.sql("CALL relay_backend_bump()")

    def _lighttpd(self, default_on):
        env = self.env
        s = env.settings
        s["RELAY_OPENAI_URL"] = env.mock_url + "/v1/chat/completions" if default_on else None
        s["RELAY_ANTHROPIC_URL"] = env.mock_url + "/v1/messages" if default_on else None
        s["RELAY_UPSTREAM_SLOTS"] = "4"
        s["RELAY_QUEUE_MAX"] = "300"
        s["RELAY_QUEUE_WAIT_MAX"] = "600"
        env.start_lighttpd()
        return env.lighttpd_url

    def _restore(self):
        env = self.env
        env.settings["RELAY_OPENAI_URL"] = env.mock_url + "/v1/chat/completions"
        env.settings["RELAY_ANTHROPIC_URL"] = env.mock_url + "/v1/messages"
        self._clear()

    # ------------------------------------------------------------ drain
    def drain(self):
        env = self.env
        n = 12 if self.quick else 40
        m1 = env.start_extra_mock("bench-b1")
        m2 = env.start_extra_mock("bench-b2")
        self._clear()
        try:
            self._relayctl("add", "b1", "--format", "openai", "--url", m1 + "/v1",
                           "--slots", SLOTS_EACH, key="sk-bench-1")
            self._relayctl("add", "b2", "--format", "openai", "--url", m2 + "/v1",
                           "--slots", SLOTS_EACH, key="sk-bench-2")
            url = self._lighttpd(default_on=False)
            env.mock_reset_at(m1)
            env.mock_reset_at(m2)
            boxes = []
            for i in range(n):
                box = {}

                def run(b=box, i=i):
                    try:
                        b["r"] = self.http_post(url + "/v1/chat/completions",
                                                _req("item-%d" % i, {"stall": 1.0}),
                                                {"Authorization": "Bearer " + self.key}, 600)
                    except Exception as e:  # reported below
                        b["err"] = str(e)
                t = threading.Thread(target=run, daemon=True)
                t.start()
                boxes.append((t, box))
            for t, _ in boxes:
                t.join(600)
            r1, r2 = env.mock_requests_at(m1), env.mock_requests_at(m2)
            recs = r1 + r2
            bad = sum(1 for _, b in boxes if (b.get("r") or (None,))[0] != 200)
            wall = max(r["stall_end"] for r in recs) - min(r["time"] for r in recs) if recs else 0
            out = {"n": n, "wall": wall, "floor": n / (2.0 * SLOTS_EACH), "peak1": _overlap(r1),
                   "peak2": _overlap(r2), "peak": _overlap(recs), "split": (len(r1), len(r2)),
                   "bad": bad}
            self.b.out["bdrain"] = out
            self.log("backends drain: %d items in %.2f s (floor %.1f s), peaks %d/%d, all %d, %d bad"
                     % (n, wall, out["floor"], out["peak1"], out["peak2"], out["peak"], bad))
        finally:
            env.stop_lighttpd()
            env.stop_extra_mock("bench-b1")
            env.stop_extra_mock("bench-b2")
            self._restore()

    # ------------------------------------------------------------ routing
    def _calls(self, url, n):
        lat = []
        body = _req("route", {})
        for _ in range(n):
            t0 = time.monotonic()
            st, data = self.http_post(url + "/v1/chat/completions", body,
                                      {"Authorization": "Bearer " + self.key}, 60)
            if st != 200:
                raise harness.HarnessError("routing: HTTP %s %r" % (st, data[:200]))
            lat.append((time.monotonic() - t0) * 1000.0)
        return lat

    def _others(self, on):
        """The 49 other backends on or off, and every process's copy
        reloaded (it looks at backend_gen at most every 2 s)."""
        self.env.sql("UPDATE backends SET enabled = %d WHERE name LIKE 'other%%'" % on)
        self.env.sql("CALL relay_backend_bump()")
        time.sleep(2.2)

    def routing(self):
        """Interleaved rounds (1 backend, 50 backends, 1, 50, ...): drift
        of the machine (frequency, which process lighttpd picks) lands on
        both setups alike, and the spread of one setup's p50 from round to
        round is the noise the difference is judged against."""
        env = self.env
        rounds, n = (2, 25) if self.quick else (6, 120)
        out = {"1": [], "50": [], "p50_1": [], "p50_50": []}
        self._clear()
        try:
            self._relayctl("add", "one", "--format", "openai", "--url", env.mock_url + "/v1",
                           "--slots", 4, "--models", "bench-backends")
            for i in range(49):
                self._relayctl("add", "other%02d" % i, "--format", "openai", "--url",
                               env.mock_url + "/v1", "--slots", 2, "--models", "other-%d" % i,
                               "--disable")
            url = self._lighttpd(default_on=False)
            self._calls(url, 10)                       # warm the pool
            for _ in range(rounds):
                for setup in ("1", "50"):
                    self._others(1 if setup == "50" else 0)
                    self._calls(url, 5)
                    lat = self._calls(url, n)
                    out[setup] += lat
                    out["p50_" + setup].append(_pct(lat, 50))
            self.b.out["brouting"] = out
            self.log("backends routing: p50 %.2f ms (1 backend) vs %.2f ms (50), rounds %s / %s"
                     % (_pct(out["1"], 50), _pct(out["50"], 50),
                        " ".join("%.2f" % x for x in out["p50_1"]),
                        " ".join("%.2f" % x for x in out["p50_50"])))
        finally:
            env.stop_lighttpd()
            self._restore()


def report(out, table, fnum):
    """Section 6 of bench/run's report."""
    L = ["", "6. Backend pool  (issue 13: two mock upstreams as backends, the legacy default off)"]
    rows = []
    d = out.get("bdrain")
    if d:
        rows.append(["drain: %d x 1 s inline waiters, 2 backends x %d slots" % (d["n"], SLOTS_EACH),
                     "%.2f s (peak %d + %d = %d, split %d/%d, %d not 200)"
                     % (d["wall"], d["peak1"], d["peak2"], d["peak"], d["split"][0], d["split"][1],
                        d["bad"]),
                     "floor %.2f s (%d / %d x 1 s)" % (d["floor"], d["n"], 2 * SLOTS_EACH),
                     "x%.2f" % (d["wall"] / max(1e-9, d["floor"]))])
    else:
        rows.append(["drain", "not measured", "", ""])
    r = out.get("brouting")
    if r:
        rows.append(["direct call latency, 50 backends configured (n=%d, %d rounds"
                     " interleaved with 1)" % (len(r["50"]), len(r["p50_50"])),
                     "p50 %s ms, p99 %s ms" % (fnum(_pct(r["50"], 50)), fnum(_pct(r["50"], 99))),
                     "1 backend: p50 %s ms, p99 %s ms" % (fnum(_pct(r["1"], 50)),
                                                          fnum(_pct(r["1"], 99))),
                     "x%.2f" % (_pct(r["50"], 50) / max(1e-9, _pct(r["1"], 50)))])
        p1 = r["p50_1"]
        rows.append(["  noise: one setup's p50 from round to round",
                     "50: %s-%s ms" % (fnum(min(r["p50_50"])), fnum(max(r["p50_50"]))),
                     "1: %s-%s ms" % (fnum(min(p1)), fnum(max(p1))),
                     "x%.2f" % (max(p1) / max(1e-9, min(p1)))])
    else:
        rows.append(["routing with 50 backends", "not measured", "", ""])
    L.append(table(["figure", "relay", "baseline", "ratio"], rows, "llll"))
    return L
