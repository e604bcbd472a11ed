"""Issue 16: bin/meterd, the host's metering daemon (src/ops/meterd.h). The web
processes of lighttpd hand their direct requests' records to it; it writes
many in one commit (relay_finish_batch). Here: every request one
row and counted once through it, a daily limit under a race with entries
held by meterd, meterd killed with -9 and stopped with SIGTERM mid-burst,
no daemon at all, a malformed record and a peer of the wrong user, and an
entry handed over whose record never came. The fast path (admit.h, an
unlimited user's request registered with meterd instead of a row of
`inflight`): its entry, its web process killed with -9 mid-request,
meterd going away mid-request, caps, revocation and the queue still as
before."""
import os
import signal
import socket
import struct
import threading

from common import call, jbody, parallel, req, usage, wait_until

SWEPT = "relay process ended before metering"


def _rows(env, where="1"):
    return int(env.sql_value("SELECT COUNT(*) FROM request_log WHERE " + where))


def _setup(env, *meterd_args, slots=32):
    """meterd (verbose: a log line per batch), then lighttpd (its config
    names the socket); returns lighttpd's base URL."""
    env.settings["RELAY_UPSTREAM_SLOTS"] = str(slots)
    env.start_meterd("-v", *meterd_args)
    return "http://127.0.0.1:%d" % env.start_lighttpd()


def _meterd_log(env):
    with open(os.path.join(env.tmp, "meterd.log"), errors="replace") as f:
        return f.read()


def _batched(env):
    """Records meterd wrote through its batches (its -v lines)."""
    n = 0
    for line in _meterd_log(env).splitlines():
        if "meterd: batch of " in line:
            n += int(line.split("meterd: batch of ")[1].split()[0])
    return n


def _burst(env, base, key, n, conns=16, fault=None, at=100):
    """n requests over `conns` client threads; fault() runs once, in the
    thread that got the at-th answer (a fault mid-burst). Returns the
    statuses."""
    out, lock, it = [], threading.Lock(), iter(range(n))

    def client():
        while True:
            with lock:
                i = next(it, None)
            if i is None:
                return
            r = call(env, req(), key, via=base, timeout=60)
            with lock:
                out.append(r.status)
                k = len(out)
            if fault and k == at:
                fault()

    ts = [threading.Thread(target=client) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def _hello(env):
    """Connects to meterd as this (root) process; returns (socket, its lock's name)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10 * env.timeout_factor)
    s.connect(os.path.join(env.tmp, "meterd.sock"))
    return s, s.recv(200).decode()


def test_meterd_every_request_one_row(env):
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env)
    codes = _burst(env, base, key, 300)
    assert codes == [200] * 300, sorted(set(codes))
    assert env.wait_inflight(None, 30), "entries left in flight"
    assert _rows(env) == 300
    assert _rows(env, "admit_id IS NOT NULL") == 300
    assert env.sql_value("SELECT COUNT(DISTINCT admit_id) FROM request_log") == "300"
    assert usage(env, "alice") == (300, 300 * 33, 0)
    assert _rows(env, "error IS NOT NULL") == 0
    # they went through meterd, and in batches of more than one
    assert _batched(env) == 300, _meterd_log(env)[-2000:]
    sizes = [int(l.split("meterd: batch of ")[1].split()[0])
             for l in _meterd_log(env).splitlines() if "meterd: batch of " in l]
    assert max(sizes) > 1, sizes


def test_meterd_daily_limit_under_race(env):
    """Entries held by meterd still count against the limit, and no
    admission takes them for dead (they are under meterd's lock)."""
    key = env.add_user("alice", daily_requests=60, daily_tokens=0, max_queued=100)
    base = _setup(env)
    # more clients than slots: those beyond wait inline (a 202 otherwise),
    # more of them than the default per-user cap of waiting items
    out = parallel(90, lambda i: call(env, req(), key, via=base, timeout=60,
                                      headers={"X-Relay-Wait": "30"}))
    codes = sorted(r.status for r in out)
    assert codes == [200] * 60 + [429] * 30, codes
    assert env.wait_inflight(None, 30)
    assert _rows(env) == 60
    assert _rows(env, "error = '%s'" % SWEPT) == 0
    assert usage(env, "alice") == (60, 60 * 33, 0)
    assert len(env.mock_requests()) == 60


def _killed_mid_burst(env, key):
    """300 requests, meterd killed with -9 after the 100th answer: every
    request ends as its real row, counted once."""
    base = _setup(env)
    rcs = []
    codes = _burst(env, base, key, 300, fault=lambda: rcs.append(env.stop_meterd(sig=signal.SIGKILL)))
    assert rcs == [-signal.SIGKILL], rcs
    assert codes == [200] * 300, sorted(set(codes))
    # meterd's lock went with its connection: the sweep (a queue worker's
    # pass) closes the handed entries it held, and their processes' own
    # writes replace those rows with the real ones
    assert env.queue_worker("--once").returncode == 0
    wait_until(lambda: _rows(env) >= 300, 30 * env.timeout_factor, "every request's row")
    assert env.wait_inflight(None, 30)
    wait_until(lambda: _rows(env, "error IS NOT NULL") == 0, 10 * env.timeout_factor,
               "every swept row replaced")
    assert _rows(env) == 300
    assert env.sql_value("SELECT COUNT(DISTINCT admit_id) FROM request_log") == "300"
    assert usage(env, "alice") == (300, 300 * 33, 0)


def test_meterd_killed_mid_burst(env):
    """kill -9: nothing it held is lost. A web process keeps each record
    (a fast-path request's FIN, or a handed one's: a request that found no
    slot among the four it tried takes relay_admit's path) until meterd
    acknowledges it as written, and writes what was not acknowledged itself
    (at its next request, or between requests once it sees meterd gone)."""
    _killed_mid_burst(env, env.add_user("alice", daily_requests=0, daily_tokens=0))


def test_meterd_killed_mid_burst_handed(env):
    """The same for a user with a daily limit, whose every request is
    handed over (relay_admit's entry under meterd's lock): the sweep writes
    a 500 for each entry meterd held, and the web process, which kept the
    record, replaces it with the real outcome (relay_settle)."""
    _killed_mid_burst(env, env.add_user("alice", daily_requests=100000, daily_tokens=0))


def test_meterd_sigterm_drains(env):
    """SIGTERM mid-burst: meterd writes everything it took and everything
    still in its sockets; nothing is swept, nothing counted twice."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env)
    rcs = []
    codes = _burst(env, base, key, 300, fault=lambda: rcs.append(env.stop_meterd()))
    assert rcs == [0], rcs
    assert codes == [200] * 300
    assert env.wait_inflight(None, 30)
    assert _rows(env) == 300
    assert _rows(env, "error IS NOT NULL") == 0
    assert usage(env, "alice") == (300, 300 * 33, 0)
    assert "meterd: stopped (" in _meterd_log(env)


def test_meterd_absent_falls_back(env):
    """A configured socket with no daemon behind it (never started, or a
    stale file): every process meters on its own."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "32"
    sock = os.path.join(env.tmp, "gone.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.path.exists(sock):
        os.unlink(sock)
    s.bind(sock)          # a stale socket file: nobody listens
    s.close()
    os.chmod(sock, 0o666)
    env.settings["RELAY_METER_SOCKET"] = sock
    base = "http://127.0.0.1:%d" % env.start_lighttpd()
    codes = _burst(env, base, key, 60)
    assert codes == [200] * 60
    assert env.wait_inflight(None, 30)
    assert _rows(env) == 60
    assert usage(env, "alice") == (60, 60 * 33, 0)


def test_meterd_rejects_bad_records_and_peers(env):
    """A malformed datagram is dropped with a warning and the daemon goes
    on; a peer running as another user gets no hello."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env)
    s, lock = _hello(env)
    assert lock.startswith(env.lock_prefix + ":md:"), lock
    for junk in (b"x" * 7, b"\x02\x00wm" + b"\x00" * 400, os.urandom(9000),
                 struct.pack("<I", 0x6d770002) + b"\xff" * 300):
        s.send(junk)
    s.send(b"")   # reads as the end of the connection (SOCK_SEQPACKET)
    s.close()
    r = call(env, req(), key, via=base)
    assert r.status == 200
    assert env.wait_inflight(None, 30)
    assert _rows(env) == 1 and usage(env, "alice") == (1, 33, 0)
    wait_until(lambda: _meterd_log(env).count("malformed record") >= 4, what="meterd's warnings")
    # another user (nobody): refused, the connection closed without a hello
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            c.settimeout(10)
            c.connect(os.path.join(env.tmp, "meterd.sock"))
            code = 0 if c.recv(200) == b"" else 1
        except OSError:
            code = 0      # refused outright is as good
        finally:
            os._exit(code)
    _, st = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(st) == 0
    assert "peer's user not allowed" in _meterd_log(env)


def test_meterd_sweeps_an_orphaned_handover(env):
    """An entry handed to meterd whose record never came (its web process
    died between the handover and the send) is swept by meterd itself."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    _setup(env)
    s, lock = _hello(env)
    s.close()
    uid, kid = env.sql("SELECT u.id, k.id FROM users u JOIN api_keys k ON k.user_id = u.id"
                       " WHERE u.name = 'alice'")[0]
    env.sql("INSERT INTO inflight (id, user_id, key_id, day, conn_id, lock_name, handed_at)"
            " VALUES (4242, %s, %s, CURDATE(), 0, '%s', NOW() - INTERVAL 200 SECOND)"
            % (uid, kid, lock))
    assert env.wait_inflight("id = 4242", 60), "the orphan was not swept"
    assert _rows(env, "admit_id = 4242 AND error = '%s'" % SWEPT) == 1
    assert usage(env, "alice") == (1, 0, 1)


def test_meterd_database_restart_mid_burst(env):
    """MariaDB restarts under a burst: meterd holds its batch while the
    server is away, then writes it (the entries went with the restart:
    relay_finish writes those rows); it takes its lock again and goes on
    batching. Nothing counted twice, nothing left in flight."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env)
    restarted = []

    def restart():
        env.stop_db()
        env.start_db()
        restarted.append(1)

    codes = _burst(env, base, key, 300, fault=restart)
    assert restarted == [1]
    assert set(codes) <= {200, 500, 502, 503}, sorted(set(codes))
    # meterd again: its lock back, new requests batched
    before = _batched(env)
    assert _burst(env, base, key, 40) == [200] * 40
    wait_until(lambda: _batched(env) > before, 30, "meterd batching again")
    # a stop writes everything it holds (the restart emptied `inflight`:
    # its count can not tell what is still to be written)
    assert env.stop_meterd() == 0
    assert env.wait_inflight(None, 60)
    rows = _rows(env)
    assert 40 < rows <= 340
    assert env.sql_value("SELECT COUNT(DISTINCT admit_id) FROM request_log") == str(rows)
    assert usage(env, "alice")[0] == rows


# ---------------------------------------------------------------- the fast path

def _serving_pid(env):
    """The pid of the web process whose upstream connection carries the
    last request the mock got (its local port is the one the mock saw: an
    idle process may keep a connection to the mock open too)."""
    port = "%04X" % env.mock_requests()[-1]["peer_port"]
    inodes = set()
    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(tab) as f:
                for line in f.readlines()[1:]:
                    x = line.split()
                    if x[1].rsplit(":", 1)[1] == port:
                        inodes.add("socket:[%s]" % x[9])
        except OSError:
            pass
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:   # under valgrind too
                if b"cgi-bin/call" not in f.read():
                    continue
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def _held(env, base, key, name, out, **kw):
    """A call the mock holds until /__release NAME, in a thread; its
    answer lands in out[name]. Returns once it is at the upstream."""
    n = len(env.mock_requests())

    def run():
        out[name] = call(env, req(mock={"hold": name}), key, via=base, timeout=120, **kw)
    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: len(env.mock_requests()) > n, what="the held call at the upstream")
    return t


def _release(env, name):
    env.http(env.mock_url + "/__release", method="POST", body=name.encode(), timeout=10)


def test_meterd_fast_path_entry_is_a_registration(env):
    """An unlimited user's request in flight has no row in `inflight`: its
    entry is its registration with meterd; a limited user's is a row, as
    before. Both end as one row, counted once."""
    free = env.add_user("alice", daily_requests=0, daily_tokens=0)
    limited = env.add_user("bob", daily_requests=10, daily_tokens=0)
    base = _setup(env)
    out = {}
    t1 = _held(env, base, free, "a1", out)
    assert env.meterd_stat()["open"] == 1
    assert env.sql_value("SELECT COUNT(*) FROM inflight") == "0"
    t2 = _held(env, base, limited, "b1", out)
    assert env.sql_value("SELECT COUNT(*) FROM inflight") == "1"
    assert usage(env, "bob")[0] == 1          # in flight, counted against the limit
    assert env.meterd_stat()["open"] == 1
    _release(env, "a1")
    _release(env, "b1")
    t1.join()
    t2.join()
    assert out["a1"].status == 200 and out["b1"].status == 200
    assert env.wait_inflight(None, 30)
    assert usage(env, "alice") == (1, 33, 0) and usage(env, "bob") == (1, 33, 0)
    assert _rows(env) == 2 and _rows(env, "error IS NOT NULL") == 0


def test_meterd_fast_path_meets_model_lists(env):
    """Issue 25.2 on the fast admission (ADMIT_FAST_SQL in src/relay/admit.c):
    a key made with gpt-4-expensive before its user was narrowed to
    gpt-test is refused gpt-4-expensive (403 model_not_allowed), and
    gpt-test goes through as a registration with meterd."""
    env.add_user("alice", daily_requests=0, daily_tokens=0)
    r = env.relayctl("key", "create", "alice", "--models", "gpt-4-expensive,gpt-test")
    key = r.stdout.split()[-1]
    assert env.relayctl("user", "set", "alice", "--models", "gpt-test").returncode == 0
    base = _setup(env)
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    out = {}
    n = len(env.mock_requests())

    def run():
        out["r"] = env.http(base + "/v1/chat/completions", "POST", h,
                            jbody(req(mock={"hold": "m1"})), timeout=120)
    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: len(env.mock_requests()) > n, what="the held call at the upstream")
    assert env.meterd_stat()["open"] == 1 and \
        env.sql_value("SELECT COUNT(*) FROM inflight") == "0"
    _release(env, "m1")
    t.join()
    assert out["r"].status == 200
    r = env.http(base + "/v1/chat/completions", "POST", h,
                 jbody(req(model="gpt-4-expensive")))
    assert r.status == 403 and r.json()["error"]["code"] == "model_not_allowed", r


def test_meterd_fast_path_process_killed(env):
    """The web process of a fast-path request killed with -9 at the
    upstream: meterd sees its socket end with the registration open and
    writes the request's one row (HTTP 500, the dead relay's reason),
    counted once as an error."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env)
    out = {}
    t = _held(env, base, key, "k1", out)
    pid = _serving_pid(env)
    assert pid, "no web process holds the upstream connection"
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _rows(env) == 1, 30 * env.timeout_factor, "the dead request's row")
    _release(env, "k1")
    t.join()
    assert out["k1"].status >= 500
    rows = env.sql("SELECT http_status, error, admit_id FROM request_log")
    assert [r[:2] for r in rows] == [["500", SWEPT]], rows
    assert usage(env, "alice") == (1, 0, 1)
    # the slot went with the process's connection: the next one goes through
    r = call(env, req(), key, via=base)
    assert r.status == 200
    assert env.wait_inflight(None, 30)
    assert usage(env, "alice") == (2, 33, 1)


def test_meterd_gone_mid_request_moves_the_entry(env):
    """meterd stopped while a fast-path request is at the upstream: within
    a tick the request's entry moves to MariaDB (a row of `inflight` under
    the process's lock), so a crash from then on is swept as before; the
    request ends as its one real row."""
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env)
    out = {}
    t = _held(env, base, key, "g1", out)
    assert env.sql_value("SELECT COUNT(*) FROM inflight") == "0", env.sql("SELECT * FROM inflight")
    assert env.stop_meterd() == 0
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM inflight"
                                     " WHERE IS_USED_LOCK(lock_name) IS NOT NULL") == "1",
               30 * env.timeout_factor, "the entry in MariaDB")
    _release(env, "g1")
    t.join()
    assert out["g1"].status == 200
    assert env.wait_inflight(None, 30)
    assert env.sql("SELECT http_status, error FROM request_log") == [["200", None]]
    assert usage(env, "alice") == (1, 33, 0)


def test_meterd_fast_path_keeps_the_rules(env):
    """What the fast path does not serve still goes through relay_admit:
    a concurrency cap, a revoked key (at once, not after a cache's time),
    and a request that finds others waiting in line."""
    capped = env.add_user("carol", daily_requests=0, daily_tokens=0)
    assert env.relayctl("user", "set", "carol", "--max-concurrent", "1").returncode == 0
    key = env.add_user("alice", daily_requests=0, daily_tokens=0)
    base = _setup(env, slots=1)
    out = {}
    t = _held(env, base, capped, "c1", out)
    r = call(env, req(), capped, via=base)
    assert r.status == 429, r.body[:300]             # the cap, not the slot
    # one slot, held: an inline waiter queues; the next direct call queues
    # behind it (202), it does not take the slot when it frees
    w = {}
    tw = threading.Thread(target=lambda: w.update(r=call(
        env, req(), key, via=base, timeout=60, headers={"X-Relay-Wait": "30"})))
    tw.start()
    wait_until(lambda: env.sql_value("SELECT COUNT(*) FROM queue WHERE status = 'waiting'") == "1",
               what="the waiter in line")
    r = call(env, req(), key, via=base)
    assert r.status == 202, r.body[:300]
    _release(env, "c1")
    t.join()
    tw.join()
    assert out["c1"].status == 200 and w["r"].status == 200
    assert env.queue_worker("--once").returncode == 0
    # revoked: refused at once
    assert call(env, req(), key, via=base).status == 200
    assert env.relayctl("key", "revoke", key[:12]).returncode == 0
    assert call(env, req(), key, via=base).status == 401
    assert env.wait_inflight(None, 30)
    assert usage(env, "alice") == (3, 3 * 33, 0)


def _until_refused(env, base, key, n=12, **kw):
    """Back-to-back calls, each after the last one's answer: how many
    were answered 200 before the first 429 (and the rest all refused)."""
    codes = [call(env, req(), key, via=base, timeout=60, **kw).status for _ in range(n)]
    ok = codes.index(429) if 429 in codes else len(codes)
    assert codes[ok:] == [429] * (n - ok), codes
    return ok


def test_token_limit_sees_finished_requests(env):
    """Issue 25 point 4: a request admitted after an earlier one finished
    sees that one's tokens, whichever way it is metered (meterd's batch
    or this process's thread): 33 tokens an answer, a limit of 50, so two
    answers and then 429, on the fast path's user and on relay_admit's
    (a request limit as well). Before: 8 and 10 answered."""
    fast = env.add_user("tok", daily_requests=0, daily_tokens=50)
    slow = env.add_user("tokr", daily_requests=1000, daily_tokens=50)
    capped = env.add_user("tokc", daily_requests=0, daily_tokens=50)
    assert env.relayctl("user", "set", "tokc", "--max-concurrent", "2").returncode == 0
    base = _setup(env)
    got = {name: _until_refused(env, base, k)
           for name, k in (("tok", fast), ("tokr", slow), ("tokc", capped))}
    assert got == {"tok": 2, "tokr": 2, "tokc": 2}, got
    assert env.wait_inflight(None, 30)
    for name in got:
        assert usage(env, name)[1] == 66, (name, usage(env, name))


def test_token_limit_sees_finished_requests_without_meterd(env):
    """The same with no daemon behind the socket: each process's metering
    thread writes the row after the slot is let go."""
    key = env.add_user("tok", daily_requests=0, daily_tokens=50)
    env.settings["RELAY_UPSTREAM_SLOTS"] = "4"
    env.settings["RELAY_METER_SOCKET"] = os.path.join(env.tmp, "nobody.sock")
    base = "http://127.0.0.1:%d" % env.start_lighttpd()
    got = _until_refused(env, base, key)
    assert got == 2, got
    assert env.wait_inflight(None, 30)
    assert usage(env, "tok")[1] == 66
