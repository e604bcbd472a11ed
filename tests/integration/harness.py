"""Integration test harness for llm-relay (Python 3 standard library only).

One Env owns a private temp folder and everything started in it: a throw-away
mariadbd (own data dir and socket, plus a 127.0.0.1 port), the mock upstream
(tests/mock_upstream.py), FastCGI apps started with spawn-fcgi, lighttpd and
Apache configured from the repository's lighttpd.conf / apache.conf templates.

Every process is started in its own session and tracked by PID; close() ends
them (TERM, then KILL after a bounded wait) and removes the temp folder
(kept when KEEP_TMP=1).  close() is idempotent and also runs at exit and on
SIGTERM/SIGINT.

With VALGRIND=1 in the environment the C binaries run under valgrind
(--error-exitcode=99, definite leaks are errors, one log file per process in
tmp/valgrind/); valgrind_failures() lists what went wrong and the runner fails
the test that caused it.
"""

import atexit
import base64
import grp
import http.client
import json
import os
import re
import pwd
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

WEB_PROGS = ("call", "status", "queue_status", "docs", "v1", "console", "metrics")
WEB_USER = "www-data"
VALGRIND_CMD = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "-q"]
APACHE_MODULES = "/usr/lib/apache2/modules"


class HarnessError(Exception):
    """Something in the test environment itself went wrong."""


class SqlError(HarnessError):
    """The mariadb client reported an error for a query."""


class Skip(Exception):
    """Raise from a test to report it as skipped (the runner counts it)."""


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _unix_open(path, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind)
    s.settimeout(0.5)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _wait_for(pred, timeout, what, proc=None, log=None, interval=0.05):
    """Poll pred() until true; bounded.  Fails early if proc exits."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise HarnessError("%s: process exited with %s%s" % (
                what, proc.returncode, _tail_hint(log)))
        if time.monotonic() > deadline:
            raise HarnessError("%s: not ready after %.0f s%s" % (what, timeout, _tail_hint(log)))
        time.sleep(interval)


def _tail_file(path, lines=40, start=0):
    try:
        with open(path, "rb") as f:
            if start:
                f.seek(start)
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _tail_hint(log):
    if not log:
        return ""
    t = _tail_file(log, 30)
    return ("\n--- %s ---\n%s" % (log, t)) if t else ""


def _proc_table():
    """{pid: (ppid, sid, starttime)} for all processes (Linux /proc)."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        rest = data[data.rfind(")") + 2:].split()
        try:
            table[int(name)] = (int(rest[1]), int(rest[3]), int(rest[19]))
        except (IndexError, ValueError):
            continue
    return table


def _descendants(pid, table=None):
    table = table if table is not None else _proc_table()
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, (ppid, _sid, _st) in table.items():
            if ppid == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as dead
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
        return data[data.rfind(")") + 2:].split()[0] != "Z"
    except OSError:
        return False


def _kill_tree(proc_or_pid, timeout=10.0, sig=signal.SIGTERM):
    """End a process we started, and every process of its session / tree.

    The processes are found by PID: the leader, its descendants, and any
    process whose session id is the leader's PID (we always start with
    start_new_session=True, so that session is ours).  Phase 1: `sig` to the
    leader only (servers stop their own children cleanly); phase 2, after
    half the timeout: `sig` to every process left; phase 3, after the
    timeout: SIGKILL.  Start times guard against PID reuse."""
    if proc_or_pid is None:
        return
    if isinstance(proc_or_pid, int):
        pid, proc = proc_or_pid, None
    else:
        pid, proc = proc_or_pid.pid, proc_or_pid
    starts = {}

    def refresh():
        table = _proc_table()
        found = {p for p, (_pp, sid, _st) in table.items() if sid == pid}
        if pid in table:
            found |= _descendants(pid, table)
            found.add(pid)
        for p in found:
            starts.setdefault(p, table[p][2])
        return table

    def living():
        table = refresh()
        return [p for p, st in starts.items()
                if p in table and table[p][2] == st and _alive(p)]

    def send(pids, s):
        for p in pids:
            try:
                os.kill(p, s)
            except OSError:
                pass

    def reap():
        if proc is not None:
            proc.poll()

    reap()
    left = living()
    if not left:
        return
    send([pid] if pid in left else left, sig)
    t_end = time.monotonic() + timeout
    t_mid = time.monotonic() + timeout / 2
    phase2 = False
    while left:
        time.sleep(0.03)
        reap()
        left = living()
        now = time.monotonic()
        if not phase2 and now > t_mid:
            send(left, sig)
            phase2 = True
        if now > t_end:
            break
    if left:
        send(left, signal.SIGKILL)
        end = time.monotonic() + 5
        while left and time.monotonic() < end:
            time.sleep(0.03)
            reap()
            left = living()
    if proc is not None:
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass


def _user_can_traverse(path, user=WEB_USER):
    """True if `user` can reach and execute `path` (walks the folders)."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return False
    groups = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    path = os.path.abspath(path)
    parts = []
    p = path
    while True:
        parts.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for p in parts:
        try:
            st = os.stat(p)
        except OSError:
            return False
        if st.st_uid == pw.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _q(s):
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


def _norm_key(k):
    """'upstream_slots' -> 'RELAY_UPSTREAM_SLOTS'; upper-case names unchanged."""
    if k[:1].islower():
        return "RELAY_" + k.upper()
    return k


# --------------------------------------------------------------------------
# responses
# --------------------------------------------------------------------------

class Resp:
    """An HTTP (or CGI) response.

    status (int), headers (dict, lower-case names; repeated headers joined
    with ", "), raw_headers ([(name, value)] as received), body (bytes),
    chunks ([(time.monotonic(), bytes)] of the body as it arrived; only the
    *_stream methods fill it), t0 (monotonic time the request was sent),
    plus for CGI: returncode and stderr (text)."""

    def __init__(self, status=0, headers=None, body=b"", chunks=None, raw_headers=None,
                 t0=None, returncode=None, stderr=""):
        self.status = status
        self.headers = headers or {}
        self.raw_headers = raw_headers or []
        self.body = body
        self.chunks = chunks or []
        self.t0 = t0
        self.returncode = returncode
        self.stderr = stderr

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError("response body is not JSON (%s): %r" % (e, self.body[:500]))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        b = self.body if len(self.body) <= 600 else self.body[:600] + b"..."
        extra = ""
        if self.returncode is not None:
            extra = " rc=%s" % self.returncode
        if self.stderr:
            extra += " stderr=%r" % self.stderr[-800:]
        return "<Resp %s %r body=%r%s>" % (self.status, self.headers, b, extra)


def _parse_cgi_output(out, what="CGI"):
    """Split a CGI response into (status, headers, raw_headers, body, header_len)."""
    i1 = out.find(b"\r\n\r\n")
    i2 = out.find(b"\n\n")
    cands = [(i, n) for i, n in ((i1, 4), (i2, 2)) if i >= 0]
    if not cands:
        raise HarnessError("%s: no end of headers in output %r" % (what, out[:800]))
    idx, n = min(cands)
    head, body = out[:idx], out[idx + n:]
    status, headers, raw = 200, {}, []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.strip():
            continue
        if b":" not in line:
            raise HarnessError("%s: bad header line %r in %r" % (what, line, out[:800]))
        k, v = line.split(b":", 1)
        k = k.decode("latin-1").strip()
        v = v.decode("latin-1").strip()
        raw.append((k, v))
        if k.lower() == "status":
            try:
                status = int(v.split()[0])
            except (ValueError, IndexError):
                raise HarnessError("%s: bad Status header %r" % (what, v))
            continue
        lk = k.lower()
        headers[lk] = headers[lk] + ", " + v if lk in headers else v
    if "status" not in {k.lower() for k, _ in raw} and "location" in headers:
        status = 302
    return status, headers, raw, body, idx + n


# --------------------------------------------------------------------------
# the environment
# --------------------------------------------------------------------------

_LIVE_ENVS = []
_ENV_COUNTER = [0]
_SIGNALS_INSTALLED = [False]


def _close_all():
    for e in list(_LIVE_ENVS):
        try:
            e.close()
        except Exception as ex:  # keep closing the others
            sys.stderr.write("harness: close failed: %r\n" % (ex,))


def _on_signal(signum, frame):
    _close_all()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _install_signal_handlers():
    if _SIGNALS_INSTALLED[0] or threading.current_thread() is not threading.main_thread():
        return
    _SIGNALS_INSTALLED[0] = True
    atexit.register(_close_all)
    for s, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        try:
            if signal.getsignal(s) in (default, None):
                signal.signal(s, _on_signal)
        except (ValueError, OSError):
            pass


class Env:
    # False: the tests' MariaDB trades durability for speed (no fsync per
    # commit, no doublewrite); the benchmark keeps MariaDB's durable defaults.
    db_durable = False
    # The tests' 64 MiB buffer pool keeps many parallel servers small; the
    # benchmark sets None (MariaDB's own default) or its --db-cnf value.
    db_buffer_pool = "64M"
    # more mariadbd options, after the harness's own (so they win): the
    # benchmark's --db-cnf settings
    db_extra_args = ()

    def __init__(self, tmp=None):
        _ENV_COUNTER[0] += 1
        self.tmp = os.path.abspath(tmp) if tmp else tempfile.mkdtemp(prefix="llm-relay-it-", dir="/tmp")
        os.makedirs(self.tmp, exist_ok=True)
        # web servers run as www-data: the folder must be traversable
        os.chmod(self.tmp, 0o755)
        self.valgrind = os.environ.get("VALGRIND") == "1"
        self.timeout_factor = 10 if self.valgrind else 1
        self.cgi_bin_dir = os.path.join(ROOT, "cgi-bin")
        self.bin_dir = os.path.join(ROOT, "bin")
        self.lock_prefix = "t%d_%d" % (os.getpid(), _ENV_COUNTER[0])
        # DB
        self.db_dir = os.path.join(self.tmp, "db")
        self.db_sock = os.path.join(self.tmp, "db.sock")
        self.db_pidfile = os.path.join(self.tmp, "db.pid")
        self.db_log = os.path.join(self.tmp, "db-error.log")
        self.db_port = None
        self._db_proc = None
        self._db_started = False
        # mock
        self.mock_url = None
        self.mock_port = None
        self._mock_proc = None
        self._mock_started = False
        self.mock_log = os.path.join(self.tmp, "mock.log")
        # fcgi apps / web servers
        self._fcgi = {}          # prog -> dict(proc, sock, envkey)
        self._lighttpd = None    # dict(proc, port, key)
        self._lighttpd_extra = []  # second web nodes (start_second_lighttpd)
        self._apache = None
        self.lighttpd_url = None
        self.apache_url = None
        self.lighttpd_port = None
        self.apache_port = None
        # valgrind bookkeeping
        self.valgrind_dir = os.path.join(self.tmp, "valgrind")
        self._vg_failures = []
        self._vg_seen = set()
        if self.valgrind:
            os.makedirs(self.valgrind_dir, exist_ok=True)
            os.chmod(self.valgrind_dir, 0o1777)
        self._running = set()    # Popen objects of short-lived runs (cgi, relayctl)
        self._log_marks = {}
        self._closed = False
        # extra mock upstreams (start_extra_mock): name -> (proc, port, url)
        self._extra_mocks = {}
        # the master key that seals backend keys (issue 13): 0600, owned by
        # the web servers' user so the relay processes can read it
        self.master_key_file = os.path.join(self.tmp, "master.key")
        self._write_master_key()
        self.settings = {}
        self.reset_settings()
        _LIVE_ENVS.append(self)
        _install_signal_handlers()

    # ------------------------------------------------------------------ settings
    def reset_settings(self):
        """Back to the default settings (for the current DB socket / mock URL)."""
        s = {
            "RELAY_DB_SOCKET": self.db_sock,
            "RELAY_DB_USER": "relay",
            "RELAY_DB_PASSWORD": "relay-pw",
            "RELAY_DB_NAME": "llm_relay",
            "RELAY_UPSTREAM_API_KEY": "upstream-secret-key-123",
            "RELAY_SSL_VERIFY": "0",
            "RELAY_REQUEST_TIMEOUT": "30",
            "RELAY_CONNECT_TIMEOUT": "5",
            "RELAY_LOCK_PREFIX": self.lock_prefix,
            "RELAY_MASTER_KEY_FILE": self.master_key_file,
            # no meterd unless a test starts one (start_meterd sets it)
            "RELAY_METER_SOCKET": "",
        }
        if self.mock_url:
            s["RELAY_OPENAI_URL"] = self.mock_url + "/v1/chat/completions"
            s["RELAY_ANTHROPIC_URL"] = self.mock_url + "/v1/messages"
        self.settings = s
        return s

    def relay_env(self, **overrides):
        """os.environ without inherited RELAY_*, plus settings, plus overrides.

        Override names are RELAY_* names (or lower-case config keys, which get
        the RELAY_ prefix); any other upper-case name (TZ, ...) is set as is.
        A value of None removes the variable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        env.pop("VALGRIND", None)
        env.update({k: str(v) for k, v in self.settings.items() if v is not None})
        for k, v in overrides.items():
            k = _norm_key(k)
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def relay_procs(self):
        """The FastCGI pool size the shipped web server configs ask for,
        upstream_slots + queue_max, from the current settings (as make run
        renders it)."""
        def num(name, default):
            v = self.settings.get(name)
            return int(v) if v not in (None, "") else default
        return num("RELAY_UPSTREAM_SLOTS", 1) + num("RELAY_QUEUE_MAX", 100)

    def config_values(self, **overrides):
        vals = dict(self.settings)
        for k, v in overrides.items():
            vals[_norm_key(k)] = v
        return {k: v for k, v in vals.items() if v is not None and k.startswith("RELAY_")}

    def write_config(self, path=None, **overrides):
        """Write an INI relay.conf (key = "value", lower-case keys) and return its path."""
        path = os.path.abspath(path or os.path.join(self.tmp, "relay.conf"))
        lines = ["; written by tests/integration/harness.py"]
        for k, v in sorted(self.config_values(**overrides).items()):
            v = str(v)
            if "\n" in v or "\r" in v:
                raise ValueError("config value for %s contains a newline" % k)
            lines.append("%s = %s" % (k[len("RELAY_"):].lower(), _q(v)))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path + ".tmp", 0o644)   # the web servers' www-data must read it
        os.replace(path + ".tmp", path)
        return path

    def prepare_test(self, migrated=True):
        """What the runner does before every test: default settings and
        folders, DB and mock running again if a test stopped them, background
        workers of the previous test stopped, data and mock record cleared,
        log positions marked (logs(since_mark=True))."""
        self.cgi_bin_dir = os.path.join(ROOT, "cgi-bin")
        self.bin_dir = os.path.join(ROOT, "bin")
        for p in list(self._running):
            _kill_tree(p, timeout=5)
            self._running.discard(p)
        if self._db_started and not self.db_running():
            self.start_db()
        if self._mock_started and not self.mock_running():
            self.start_mock()
        self.reset_settings()
        if self.db_running():
            self._quiesce()
            self.reset_data()
        if self.mock_running():
            self.mock_reset()
        self.log_mark()

    # ------------------------------------------------------------------ process helpers
    def _popen(self, argv, log=None, **kw):
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            return subprocess.Popen(argv, stdin=kw.pop("stdin", subprocess.DEVNULL),
                                    stdout=kw.pop("stdout", out), stderr=kw.pop("stderr", out),
                                    start_new_session=True, close_fds=True, **kw)
        finally:
            if log:
                out.close()

    def _vg_prefix(self):
        if not self.valgrind:
            return []
        # absolute path: spawn-fcgi execs without a PATH search
        vg = shutil.which("valgrind") or "/usr/bin/valgrind"
        return [vg] + VALGRIND_CMD[1:] + ["--log-file=%s/%%p.log" % self.valgrind_dir]

    def _note_rc(self, argv, rc):
        if self.valgrind and rc == 99:
            self._vg_failures.append("exit status 99 (valgrind error) from %s" % " ".join(argv))

    def valgrind_failures(self):
        """New valgrind problems since the last call: a list of strings."""
        if not self.valgrind:
            return []
        out, self._vg_failures = self._vg_failures, []
        try:
            names = sorted(os.listdir(self.valgrind_dir))
        except OSError:
            names = []
        for n in names:
            p = os.path.join(self.valgrind_dir, n)
            if p in self._vg_seen:
                continue
            try:
                size = os.path.getsize(p)
            except OSError:
                continue
            if size > 0:
                # a process may still be writing; report once it is complete enough
                self._vg_seen.add(p)
                out.append("valgrind report %s:\n%s" % (p, _tail_file(p, 60)))
        return out

    def _append_log(self, name, title, text):
        if not text:
            return
        with open(os.path.join(self.tmp, name), "a", encoding="utf-8", errors="replace") as f:
            f.write("== %s %s\n%s%s" % (time.strftime("%H:%M:%S"), title, text,
                                        "" if text.endswith("\n") else "\n"))

    def _run(self, argv, env, input=None, timeout=120, text=True, logname="bin-stderr.log"):
        """subprocess.run that is tracked (killed by close()) and bounded."""
        timeout = timeout * self.timeout_factor
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, text=text,
                             start_new_session=True, close_fds=True)
        self._running.add(p)
        try:
            try:
                out, err = p.communicate(input, timeout=timeout)
            except BaseException:
                _kill_tree(p, timeout=2, sig=signal.SIGKILL)
                try:
                    p.communicate(timeout=2)
                except Exception:
                    pass
                raise
        finally:
            self._running.discard(p)
        self._note_rc(argv, p.returncode)
        errtxt = err if text else (err or b"").decode("utf-8", "replace")
        shown = argv[len(self._vg_prefix()):] if argv[:1] == self._vg_prefix()[:1] else argv
        self._append_log(logname, "%s (rc=%s)" % (" ".join(shown)[:300], p.returncode), errtxt)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)

    # ------------------------------------------------------------------ MariaDB
    def start_db(self):
        """Start the private mariadbd (installing the data dir on first use)."""
        if self._db_proc is not None and self._db_proc.poll() is None:
            return
        first = not os.path.isdir(os.path.join(self.db_dir, "mysql"))
        if first:
            os.makedirs(self.db_dir, exist_ok=True)
            r = subprocess.run(
                ["mariadb-install-db", "--no-defaults", "--user=root", "--datadir=" + self.db_dir,
                 "--auth-root-authentication-method=socket", "--skip-test-db"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            if r.returncode != 0:
                raise HarnessError("mariadb-install-db failed (%d):\n%s" % (
                    r.returncode, r.stdout.decode("utf-8", "replace")[-3000:]))
        last_err = None
        for _attempt in range(3):
            port = self.db_port if (self.db_port and not first and _attempt == 0) else free_port()
            if _port_open(port):
                port = free_port()
            self.db_port = port
            start = os.path.getsize(self.db_log) if os.path.exists(self.db_log) else 0
            argv = ["mariadbd", "--no-defaults", "--user=root", "--datadir=" + self.db_dir,
                    "--socket=" + self.db_sock, "--pid-file=" + self.db_pidfile,
                    "--port=%d" % port, "--bind-address=127.0.0.1",
                    "--skip-log-bin", "--log-error=" + self.db_log,
                    "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                    "--max-connections=%d" % max(500, 2 * self.relay_procs() + 100),
                    # as tools/mariadb-relay.cnf ships it: the relay's short
                    # statements run on a few pooled threads; the dispatcher's
                    # naps and lock waits must work under it too
                    "--thread-handling=pool-of-threads",
                    # statistics kept in memory: persistent ones are written by
                    # a background thread (the rows every test deletes queue a
                    # recalculation), commits that a test counting the relay's
                    # commits (test_durable) would see when the machine is slow
                    "--innodb-stats-persistent=0"]
            if self.db_buffer_pool:
                argv.append("--innodb-buffer-pool-size=" + self.db_buffer_pool)
            if not self.db_durable:
                # tests only: a crash of the test machine loses nothing that matters
                argv += ["--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0",
                         "--skip-innodb-adaptive-hash-index"]
            argv += list(self.db_extra_args)
            self._db_proc = self._popen(argv, log=self.db_log)
            try:
                _wait_for(self._db_ping, 30, "mariadbd", proc=self._db_proc, log=self.db_log)
                break
            except HarnessError as e:
                last_err = e
                log = _tail_file(self.db_log, 200, start)
                _kill_tree(self._db_proc, timeout=10)
                self._db_proc = None
                if "Address already in use" in log or "Can't start server: Bind" in log:
                    continue
                raise
        else:
            raise last_err
        self._db_started = True
        with open(os.path.join(self.tmp, "db.port"), "w") as f:
            f.write("%d\n" % self.db_port)
        if first:
            self.sql(
                "CREATE DATABASE IF NOT EXISTS llm_relay CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
                "CREATE USER IF NOT EXISTS 'relay'@'localhost' IDENTIFIED BY 'relay-pw';"
                "CREATE USER IF NOT EXISTS 'relay'@'127.0.0.1' IDENTIFIED BY 'relay-pw';"
                "GRANT ALL ON llm_relay.* TO 'relay'@'localhost';"
                "GRANT ALL ON llm_relay.* TO 'relay'@'127.0.0.1';"
                "GRANT PROCESS ON *.* TO 'relay'@'localhost';"
                "GRANT PROCESS ON *.* TO 'relay'@'127.0.0.1';"
                "FLUSH PRIVILEGES;", db=None)

    def _db_ping(self):
        r = subprocess.run(["mariadb-admin", "--no-defaults", "--socket=" + self.db_sock, "-uroot",
                            "--connect-timeout=2", "ping"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        return r.returncode == 0

    def db_running(self):
        return self._db_proc is not None and self._db_proc.poll() is None

    def stop_db(self):
        """Clean shutdown (TERM to mariadbd's PID, bounded wait).  Idempotent."""
        if self._db_proc is None:
            return
        _kill_tree(self._db_proc, timeout=60)
        self._db_proc = None

    def sql(self, query, db="llm_relay"):
        """Run SQL as root over the socket.  Returns the rows of every result
        set (concatenated) as lists of str, NULL -> None.  Raises SqlError.

        Uses the client's --xml output, which is unambiguous for NULL, tabs
        and newlines in values (plain -B --raw output is not)."""
        argv = ["mariadb", "--no-defaults", "-S", self.db_sock, "-uroot", "--xml",
                "--default-character-set=utf8mb4", "--connect-timeout=10"]
        if db:
            argv.append(db)
        r = subprocess.run(argv, input=query.encode("utf-8"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120 * self.timeout_factor)
        if r.returncode != 0:
            raise SqlError("SQL failed (rc=%d): %s\nquery: %s" % (
                r.returncode, r.stderr.decode("utf-8", "replace").strip(), query[:2000]))
        return _parse_xml_rows(r.stdout)

    def sql_value(self, query, db="llm_relay"):
        """First column of the first row (or None if no rows)."""
        rows = self.sql(query, db)
        return rows[0][0] if rows else None

    def meterd_stat(self):
        """bin/meterd's state (src/ops/meterd.c, its STAT answer) as a dict of
        ints: open (requests registered on the fast path, still in
        flight), queued, writing; None when no meterd runs here."""
        if getattr(self, "_meterd", None) is None or self._meterd.poll() is not None:
            return None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.settimeout(10 * self.timeout_factor)
            s.connect(self.settings["RELAY_METER_SOCKET"])
            s.recv(200)   # the hello
            s.send(b"STAT")
            out = s.recv(400).decode()
        except OSError:
            return None
        finally:
            s.close()
        return {k: int(v) for k, v in (x.split("=", 1) for x in out.split())}

    def _meterd_idle(self, open_too=True):
        st = self.meterd_stat()
        return st is None or (st["queued"] == 0 and st["writing"] == 0 and
                              (st["open"] == 0 or not open_too))

    def wait_inflight(self, where, timeout):
        """Waits until no in-flight entry matches `where` (None: none at all,
        and bin/meterd, when it runs, holds nothing: no registration open,
        no record left to write); False on timeout. Also bench/run's wait
        for the metering to catch up."""
        deadline = time.monotonic() + timeout * self.timeout_factor
        q = "SELECT COUNT(*) FROM inflight" + (" WHERE " + where if where else "")
        while self.sql_value(q) not in ("0", None) or (where is None and not self._meterd_idle()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _quiesce(self, timeout=20):
        """Before the next test: lets requests of the last one that are
        still alive (a client thread the test did not wait for, a process
        still metering; their entries' locks are held) end, so they hold
        no slot in the next test. Dead entries (lock free) do not count."""
        try:
            self.wait_inflight("IS_USED_LOCK(lock_name) IS NOT NULL", timeout)
            deadline = time.monotonic() + timeout
            while not self._meterd_idle() and time.monotonic() < deadline:
                time.sleep(0.02)   # fast-path requests still registered
        except HarnessError:
            pass   # no schema yet, or the database is gone: nothing to wait for

    def settle(self, timeout=30):
        """Waits until no admitted request is still unmetered. Through a web
        server the relay answers first and meters after: a client
        holding its answer may look at request_log a moment too early. The
        finish removes the request's entry only after the commit of its log
        row, so an empty inflight table means every row is there."""
        if not self.wait_inflight(None, timeout):
            raise HarnessError("requests still unmetered after %d s" % timeout)

    # ------------------------------------------------------------------ mock upstream
    def start_mock(self):
        if self._mock_proc is not None and self._mock_proc.poll() is None:
            return self.mock_port
        script = os.path.join(ROOT, "tests", "mock_upstream.py")
        if not os.path.exists(script):
            raise HarnessError("missing %s" % script)
        pf = os.path.join(self.tmp, "mock.port")
        if os.path.exists(pf):
            os.unlink(pf)
        self._mock_proc = self._popen([sys.executable, script, "--port", "0", "--port-file", pf, "--quiet"],
                                      log=self.mock_log)

        def port_ready():
            try:
                with open(pf) as f:
                    return int(f.read().strip()) > 0
            except (OSError, ValueError):
                return False
        _wait_for(port_ready, 15, "mock upstream port file", proc=self._mock_proc, log=self.mock_log)
        with open(pf) as f:
            self.mock_port = int(f.read().strip())
        self.mock_url = "http://127.0.0.1:%d" % self.mock_port
        self._mock_started = True

        def healthy():
            try:
                return self.http(self.mock_url + "/__health", timeout=2).status == 200
            except OSError:
                return False
        _wait_for(healthy, 15, "mock upstream /__health", proc=self._mock_proc, log=self.mock_log)
        self.settings["RELAY_OPENAI_URL"] = self.mock_url + "/v1/chat/completions"
        self.settings["RELAY_ANTHROPIC_URL"] = self.mock_url + "/v1/messages"
        return self.mock_port

    def mock_running(self):
        return self._mock_proc is not None and self._mock_proc.poll() is None

    def mock_requests(self):
        r = self.http(self.mock_url + "/__requests", timeout=10)
        if r.status != 200:
            raise HarnessError("mock /__requests answered %s" % r.status)
        recs = r.json()
        for rec in recs:
            rec["body"] = base64.b64decode(rec.get("body_b64") or "")
        return recs

    def mock_reset(self):
        r = self.http(self.mock_url + "/__reset", method="POST", body=b"", timeout=10)
        if r.status != 200:
            raise HarnessError("mock /__reset answered %s" % r.status)

    def _write_master_key(self):
        if os.path.exists(self.master_key_file):
            return
        fd = os.open(self.master_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        try:
            import pwd
            pw = pwd.getpwnam(WEB_USER)
            os.chown(self.master_key_file, pw.pw_uid, pw.pw_gid)
        except (KeyError, PermissionError):
            pass

    def start_extra_mock(self, name, port=0):
        """Another mock upstream (tests/mock_upstream.py) on its own port, for
        several backends at once; returns its base URL. Stopped by
        stop_extra_mock(name) or close()."""
        if name in self._extra_mocks and self._extra_mocks[name][0].poll() is None:
            return self._extra_mocks[name][2]
        script = os.path.join(ROOT, "tests", "mock_upstream.py")
        pf = os.path.join(self.tmp, "mock-%s.port" % name)
        log = os.path.join(self.tmp, "mock-%s.log" % name)
        if os.path.exists(pf):
            os.unlink(pf)
        proc = self._popen([sys.executable, script, "--port", str(port), "--port-file", pf,
                            "--quiet"], log=log)

        def port_ready():
            try:
                with open(pf) as f:
                    return int(f.read().strip()) > 0
            except (OSError, ValueError):
                return False
        _wait_for(port_ready, 15, "mock upstream %s port file" % name, proc=proc, log=log)
        with open(pf) as f:
            port = int(f.read().strip())
        url = "http://127.0.0.1:%d" % port

        def healthy():
            try:
                return self.http(url + "/__health", timeout=2).status == 200
            except OSError:
                return False
        _wait_for(healthy, 15, "mock upstream %s /__health" % name, proc=proc, log=log)
        self._extra_mocks[name] = (proc, port, url)
        return url

    def stop_extra_mock(self, name):
        m = self._extra_mocks.pop(name, None)
        if m is not None:
            _kill_tree(m[0], timeout=10)

    def mock_requests_at(self, url):
        r = self.http(url + "/__requests", timeout=10)
        if r.status != 200:
            raise HarnessError("mock /__requests answered %s" % r.status)
        recs = r.json()
        for rec in recs:
            rec["body"] = base64.b64decode(rec.get("body_b64") or "")
        return recs

    def mock_reset_at(self, url):
        self.http(url + "/__reset", method="POST", body=b"", timeout=10)

    def stop_mock(self):
        for name in list(self._extra_mocks):
            self.stop_extra_mock(name)
        if self._mock_proc is not None:
            _kill_tree(self._mock_proc, timeout=10)
            self._mock_proc = None

    # ------------------------------------------------------------------ CLI binaries
    def _bin(self, name):
        return os.path.join(self.bin_dir, name)

    def run_bin(self, name, *args, env=None, input=None, timeout=120):
        """Run ROOT/bin/<name> (under valgrind if VALGRIND=1), text mode, captured."""
        path = self._bin(name)
        if not os.path.exists(path):
            raise HarnessError("%s does not exist (run make first)" % path)
        argv = self._vg_prefix() + [path] + [str(a) for a in args]
        return self._run(argv, env if env is not None else self.relay_env(), input=input,
                         timeout=timeout, logname="%s.log" % name)

    def relayctl(self, *args, env=None, input=None, timeout=120):
        return self.run_bin("relayctl", *args, env=env, input=input, timeout=timeout)

    def queue_worker(self, *args, env=None, timeout=120):
        return self.run_bin("queue_worker", *args, env=env, timeout=timeout)

    def start_queue_worker(self, *args, env=None):
        """queue_worker in the background; returns the Popen (stopped by close())."""
        path = self._bin("queue_worker")
        if not os.path.exists(path):
            raise HarnessError("%s does not exist (run make first)" % path)
        p = self._popen(self._vg_prefix() + [path] + [str(a) for a in args],
                        log=os.path.join(self.tmp, "queue_worker.log"),
                        env=env if env is not None else self.relay_env())
        self._running.add(p)
        return p

    def start_meterd(self, *args):
        """bin/meterd in the background on <tmp>/meterd.sock, and the setting
        that sends the web processes' records there (meter_socket); returns
        the Popen (stopped by stop_meterd() or close())."""
        path = self._bin("meterd")
        sock = os.path.join(self.tmp, "meterd.sock")
        self.settings["RELAY_METER_SOCKET"] = sock
        p = self._popen(self._vg_prefix() + [path] + [str(a) for a in args],
                        log=os.path.join(self.tmp, "meterd.log"), env=self.relay_env())
        self._running.add(p)
        _wait_for(lambda: _unix_open(sock, socket.SOCK_SEQPACKET), 10 * self.timeout_factor, "meterd's socket",
                  proc=p, log=os.path.join(self.tmp, "meterd.log"))
        self._meterd = p
        return p

    def stop_meterd(self, sig=signal.SIGTERM, timeout=30):
        """Stops meterd (SIGTERM: it writes what it holds first); the
        setting stays, so web processes find no socket and meter on their
        own. Returns its exit code."""
        p = getattr(self, "_meterd", None)
        if p is None:
            return None
        p.send_signal(sig)
        try:
            rc = p.wait(timeout=timeout * self.timeout_factor)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        self._running.discard(p)
        self._meterd = None
        self._note_rc([self._bin("meterd")], rc)
        return rc

    def migrate(self):
        r = self.relayctl("migrate")
        if r.returncode != 0:
            raise HarnessError("relayctl migrate failed (rc=%d)\nstdout: %s\nstderr: %s" % (
                r.returncode, r.stdout, r.stderr))
        return r

    def tables(self):
        return [r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema='llm_relay' AND table_type='BASE TABLE' ORDER BY table_name")]

    def reset_data(self):
        """Delete every row of every table except schema_migrations and
        schema_routines (what relayctl migrate has applied)."""
        keep = ("schema_migrations", "schema_routines", "backend_gen")
        names = [t for t in self.tables() if t not in keep]
        if not names:
            return
        # web processes kept from the last test hold its backends for up
        # to 2 s (backends_sync reads the table again at most that often):
        # after a test that had backends, the next one gets new processes
        if "backends" in names and self.sql_value("SELECT COUNT(*) FROM backends") != "0":
            self.stop_lighttpd()
            self.stop_apache()
            self.stop_fcgi_app()
        q = "SET FOREIGN_KEY_CHECKS=0;" + "".join("DELETE FROM `%s`;" % t for t in names) + \
            "SET FOREIGN_KEY_CHECKS=1;"
        # the backends' generation only grows, as in production: web
        # processes that outlive a test reload their copy of the (now
        # empty) table instead of taking a new test's backends for theirs
        if "backend_gen" in self.tables():
            q += "INSERT INTO backend_gen (id, gen) VALUES (1, 1)" \
                 " ON DUPLICATE KEY UPDATE gen = gen + 1;"
        self.sql(q)

    def add_user(self, name, **flags):
        """relayctl user add NAME [--flag value ...]; relayctl key create NAME.
        Returns the key (last line of the key command's stdout)."""
        args = ["user", "add", name]
        for k, v in flags.items():
            if v is None or v is False:
                continue
            args.append("--" + k.replace("_", "-"))
            if v is not True:
                args.append(str(v))
        r = self.relayctl(*args)
        if r.returncode != 0:
            raise HarnessError("relayctl %s failed (rc=%d)\nstdout: %s\nstderr: %s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        r = self.relayctl("key", "create", name)
        if r.returncode != 0:
            raise HarnessError("relayctl key create %s failed (rc=%d)\nstdout: %s\nstderr: %s" % (
                name, r.returncode, r.stdout, r.stderr))
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        if not lines:
            raise HarnessError("relayctl key create %s printed nothing" % name)
        return lines[-1].strip()

    # ------------------------------------------------------------------ CGI
    def _cgi_env(self, prog, method, query, headers, body, base, uri=None):
        if isinstance(query, dict):
            query = urllib.parse.urlencode(query)
        query = query or ""
        env = dict(base)
        # uri: the request's path for binaries that route on it (console)
        script = uri or "/api/%s.php" % prog
        env.update({
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": method,
            "QUERY_STRING": query,
            "SCRIPT_NAME": script,
            "SCRIPT_FILENAME": os.path.join(self.cgi_bin_dir, prog),
            "REQUEST_URI": script + ("?" + query if query else ""),
            "DOCUMENT_URI": script,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "llm-relay-harness",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_ADDR": "127.0.0.1",
            "SERVER_PORT": "80",
            # a test may give the client's address in base (console limits)
            "REMOTE_ADDR": base.get("REMOTE_ADDR", "127.0.0.1"),
            "REMOTE_PORT": "54321",
        })
        has_cl = False
        for k, v in _header_items(headers):
            if v is None:
                continue
            lk = k.lower()
            if lk == "content-type":
                env["CONTENT_TYPE"] = str(v)
            elif lk == "content-length":
                env["CONTENT_LENGTH"] = str(v)
                has_cl = True
            else:
                env["HTTP_" + k.upper().replace("-", "_")] = str(v)
        if not has_cl and (body or method.upper() in ("POST", "PUT", "PATCH")):
            env["CONTENT_LENGTH"] = str(len(body))
        if "HTTP_HOST" not in env:
            env["HTTP_HOST"] = "127.0.0.1"
        return env

    def cgi_argv(self, prog):
        """argv that runs cgi-bin/<prog> (under valgrind when VALGRIND=1)."""
        path = os.path.join(self.cgi_bin_dir, prog)
        if not os.path.exists(path):
            raise HarnessError("%s does not exist (run make first)" % path)
        return self._vg_prefix() + [path]

    def cgi(self, prog, method="GET", query="", headers=None, body=b"", env=None, timeout=60,
            uri=None):
        """Run cgi-bin/<prog> as plain CGI.  env = base environment
        (default relay_env()); the CGI variables are added to it.  uri =
        the request path (SCRIPT_NAME, REQUEST_URI; default /api/<prog>.php)."""
        body = _body_bytes(body)
        cenv = self._cgi_env(prog, method, query, headers, body,
                             env if env is not None else self.relay_env(), uri)
        argv = self.cgi_argv(prog)
        t0 = time.monotonic()
        r = self._run(argv, cenv, input=body, timeout=timeout, text=False, logname="cgi-stderr.log")
        err = (r.stderr or b"").decode("utf-8", "replace")
        status, hdrs, raw, rbody, _ = _parse_cgi_output(
            r.stdout, "cgi %s (rc=%s, stderr=%r)" % (prog, r.returncode, err[-1500:]))
        return Resp(status, hdrs, rbody, [], raw, t0, r.returncode, err)

    def cgi_stream(self, prog, method="GET", query="", headers=None, body=b"", env=None, timeout=60):
        """Like cgi(), but reads stdout as it arrives: Resp.chunks lists the
        body bytes with their arrival times (time.monotonic())."""
        body = _body_bytes(body)
        cenv = self._cgi_env(prog, method, query, headers, body,
                             env if env is not None else self.relay_env())
        return self._stream_proc(self.cgi_argv(prog), cenv, body, timeout, "cgi " + prog)

    def _stream_proc(self, argv, env, body, timeout, what):
        timeout = timeout * self.timeout_factor
        errf = tempfile.TemporaryFile(dir=self.tmp)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                             env=env, start_new_session=True, close_fds=True)
        self._running.add(p)

        def feed():
            try:
                if body:
                    p.stdin.write(body)
            except (BrokenPipeError, OSError):
                pass
            finally:
                try:
                    p.stdin.close()
                except OSError:
                    pass
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        raw_chunks = []
        fd = p.stdout.fileno()
        deadline = t0 + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError("%s: no end of output after %.0f s" % (what, timeout))
                rl, _, _ = select.select([fd], [], [], min(left, 1.0))
                if not rl:
                    continue
                data = os.read(fd, 65536)
                if not data:
                    break
                raw_chunks.append((time.monotonic(), data))
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise HarnessError("%s: did not exit after closing stdout" % what)
        finally:
            if p.poll() is None:
                _kill_tree(p, timeout=2, sig=signal.SIGKILL)
            self._running.discard(p)
            p.stdout.close()
            feeder.join(2)
            errf.seek(0)
            err = errf.read().decode("utf-8", "replace")
            errf.close()
        self._note_rc(argv, p.returncode)
        self._append_log("cgi-stderr.log", "%s (rc=%s)" % (what, p.returncode), err)
        out = b"".join(c for _, c in raw_chunks)
        status, hdrs, raw, rbody, hlen = _parse_cgi_output(
            out, "%s (rc=%s, stderr=%r)" % (what, p.returncode, err[-1500:]))
        chunks, pos = [], 0
        for t, c in raw_chunks:
            end = pos + len(c)
            if end > hlen:
                chunks.append((t, c[max(0, hlen - pos):]))
            pos = end
        return Resp(status, hdrs, rbody, chunks, raw, t0, p.returncode, err)

    # ------------------------------------------------------------------ FastCGI (spawn-fcgi + cgi-fcgi)
    def start_fcgi_app(self, prog, env=None):
        """spawn-fcgi the app on tmp/<prog>.sock (restarted if env changed); returns the socket."""
        env = env if env is not None else self.relay_env()
        app_argv = self.cgi_argv(prog)
        key = json.dumps([app_argv, sorted(env.items())])
        cur = self._fcgi.get(prog)
        if cur and cur["proc"].poll() is None and cur["key"] == key:
            return cur["sock"]
        self.stop_fcgi_app(prog)
        sock = os.path.join(self.tmp, "%s.sock" % prog)
        if os.path.exists(sock):
            os.unlink(sock)
        pidfile = os.path.join(self.tmp, "%s.fcgi.pid" % prog)
        log = os.path.join(self.tmp, "fcgi-%s.stderr.log" % prog)
        # -n: spawn-fcgi binds the socket and execs the app in the same process,
        # so we know its PID and capture its stderr.
        argv = ["spawn-fcgi", "-n", "-s", sock, "-M", "0666", "--"] + app_argv
        proc = self._popen(argv, log=log, env=env)
        with open(pidfile, "w") as f:
            f.write("%d\n" % proc.pid)
        self._fcgi[prog] = {"proc": proc, "sock": sock, "key": key, "pidfile": pidfile}
        _wait_for(lambda: os.path.exists(sock) and _unix_open(sock), 15 * self.timeout_factor,
                  "FastCGI app %s" % prog, proc=proc, log=log)
        return sock

    def stop_fcgi_app(self, prog=None):
        progs = [prog] if prog else list(self._fcgi)
        for p in progs:
            cur = self._fcgi.pop(p, None)
            if cur:
                _kill_tree(cur["proc"], timeout=10)
                self._note_rc(["fcgi", p], cur["proc"].returncode)
                for f in (cur["sock"], cur["pidfile"]):
                    try:
                        os.unlink(f)
                    except OSError:
                        pass

    def _fcgi_env(self, prog, method, query, headers, body, extra, uri=None):
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        cenv = self._cgi_env(prog, method, query, headers, body, base, uri)
        if extra:
            cenv.update({k: str(v) for k, v in extra.items() if v is not None})
        return cenv

    def fcgi(self, prog, method="GET", query="", headers=None, body=b"", env=None, timeout=60,
             uri=None):
        """One request to the FastCGI app over its socket via `cgi-fcgi -bind`.
        The app is started on first use with relay_env(); `env` here adds extra
        FastCGI params (e.g. {"HTTPS": "on"}); uri as for cgi()."""
        body = _body_bytes(body)
        sock = self.start_fcgi_app(prog)
        cenv = self._fcgi_env(prog, method, query, headers, body, env, uri)
        t0 = time.monotonic()
        r = self._run(["cgi-fcgi", "-bind", "-connect", sock], cenv, input=body, timeout=timeout,
                      text=False, logname="cgi-fcgi.log")
        err = (r.stderr or b"").decode("utf-8", "replace")
        status, hdrs, raw, rbody, _ = _parse_cgi_output(
            r.stdout, "fcgi %s (cgi-fcgi rc=%s, stderr=%r)%s" % (
                prog, r.returncode, err[-1500:],
                _tail_hint(os.path.join(self.tmp, "fcgi-%s.stderr.log" % prog))))
        return Resp(status, hdrs, rbody, [], raw, t0, r.returncode, err)

    def fcgi_stream(self, prog, method="GET", query="", headers=None, body=b"", env=None, timeout=60):
        body = _body_bytes(body)
        sock = self.start_fcgi_app(prog)
        cenv = self._fcgi_env(prog, method, query, headers, body, env)
        return self._stream_proc(["cgi-fcgi", "-bind", "-connect", sock], cenv, body, timeout,
                                 "fcgi " + prog)

    # ------------------------------------------------------------------ web servers
    def _served_cgi_bin(self, cgi_bin, tag):
        """The folder the web server is pointed at.  Copies the binaries into
        tmp if www-data cannot reach them, and wraps them with valgrind when
        VALGRIND=1."""
        cgi_bin = os.path.abspath(cgi_bin or self.cgi_bin_dir)
        for p in WEB_PROGS:
            if not os.path.exists(os.path.join(cgi_bin, p)):
                raise HarnessError("%s does not exist (run make first)" % os.path.join(cgi_bin, p))
        if not all(_user_can_traverse(os.path.join(cgi_bin, p)) for p in WEB_PROGS):
            dst = os.path.join(self.tmp, "%s-cgi-bin-copy" % tag)
            os.makedirs(dst, exist_ok=True)
            os.chmod(dst, 0o755)
            for p in WEB_PROGS:
                shutil.copy2(os.path.join(cgi_bin, p), os.path.join(dst, p))
                os.chmod(os.path.join(dst, p), 0o755)
            cgi_bin = dst
        if self.valgrind:
            dst = os.path.join(self.tmp, "%s-vg-bin" % tag)
            os.makedirs(dst, exist_ok=True)
            os.chmod(dst, 0o755)
            for p in WEB_PROGS:
                w = os.path.join(dst, p)
                with open(w, "w") as f:
                    f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (
                        " ".join(_shq(a) for a in self._vg_prefix()), _shq(os.path.join(cgi_bin, p))))
                os.chmod(w, 0o755)
            cgi_bin = dst
        return cgi_bin

    def _render(self, template, mapping):
        with open(template) as f:
            text = f.read()
        for k, v in mapping.items():
            text = text.replace(k, v)
        if "@" in text:
            import re
            left = set(re.findall(r"@[A-Z_]+@", text))
            if left:
                raise HarnessError("%s: unreplaced placeholders %s" % (template, sorted(left)))
        return text

    def _www(self):
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        os.chmod(www, 0o755)
        idx = os.path.join(www, "index.html")
        if not os.path.exists(idx):
            with open(idx, "w") as f:
                f.write("harness\n")
            os.chmod(idx, 0o644)
        return www

    def _web_owned_dir(self, path):
        os.makedirs(path, exist_ok=True)
        pw = pwd.getpwnam(WEB_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, 0o750)
        return path

    def start_second_lighttpd(self, bind="127.0.0.2", cgi_bin=None):
        """A second web node: another lighttpd with its own FastCGI pools,
        bound to another loopback address, sharing the same MariaDB.
        Returns its base URL; stopped with the first one."""
        saved = (self._lighttpd, self.lighttpd_url, self.lighttpd_port)
        self._lighttpd = None
        try:
            self.start_lighttpd(cgi_bin, bind=bind, tag="lighttpd2")
            second = self._lighttpd
            url = self.lighttpd_url
        finally:
            self._lighttpd, self.lighttpd_url, self.lighttpd_port = saved
        self._lighttpd_extra.append(second)
        return url

    def start_lighttpd(self, cgi_bin=None, bind="127.0.0.1", tag="lighttpd"):
        """lighttpd -D with ROOT/lighttpd.conf rendered and included; returns the port.
        Reuses a running instance if cgi_bin and the relay config are unchanged."""
        served = self._served_cgi_bin(cgi_bin, "lighttpd")
        d = os.path.join(self.tmp, tag)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        cfg = self.write_config(os.path.join(d, "relay.conf"))
        with open(cfg) as f:
            key = (served, f.read())
        if self._lighttpd and self._lighttpd["proc"].poll() is None and self._lighttpd["key"] == key:
            return self._lighttpd["port"]
        self.stop_lighttpd()
        run_dir = os.path.join(self.tmp, tag + "-run")
        if os.path.isdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        self._web_owned_dir(run_dir)
        self._web_owned_dir(os.path.join(run_dir, "uploads"))
        snippet = self._render(os.path.join(ROOT, "lighttpd.conf"), {
            "@CGI_BIN@": served, "@RELAY_CONFIG@": cfg, "@RUN_DIR@": run_dir,
            "@RELAY_PROCS@": str(self.relay_procs())})
        if self.valgrind:
            # a hundred processes under valgrind at every start would take
            # minutes: start a few, lighttpd adds more as requests need them
            snippet = re.sub(r'"min-procs"(\s*)=>\s*\d+', r'"min-procs"\1=> 4', snippet)
        snip_path = os.path.join(d, "llm-relay.conf")
        with open(snip_path, "w") as f:
            f.write(snippet)
        log = os.path.join(self.tmp, tag + "-error.log")
        # lighttpd opens its error log after dropping to www-data
        if not os.path.exists(log):
            open(log, "a").close()
        pw = pwd.getpwnam(WEB_USER)
        os.chown(log, pw.pw_uid, pw.pw_gid)
        out_log = os.path.join(self.tmp, tag + "-stdout.log")
        pidf = os.path.join(d, "lighttpd.pid")
        last = None
        for _attempt in range(3):
            port = free_port()
            main = "\n".join([
                "# standalone wrapper written by the test harness",
                'server.modules = ( "mod_indexfile", "mod_access", "mod_alias", "mod_redirect" )',
                'server.document-root = "%s"' % self._www(),
                'server.upload-dirs = ( "%s/uploads" )' % run_dir,
                'server.errorlog = "%s"' % log,
                'server.pid-file = "%s"' % pidf,
                'server.username = "%s"' % WEB_USER,
                'server.groupname = "%s"' % WEB_USER,
                'server.bind = "%s"' % bind,
                "server.port = %d" % port,
                'server.feature-flags += ("server.graceful-shutdown-timeout" => 5)',
                'mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain" )',
                'index-file.names = ( "index.html" )',
                'static-file.exclude-extensions = ( ".php", ".pl", ".fcgi" )',
                'include "%s"' % snip_path,
                'server.modules += ( "mod_staticfile" )',
                ""])
            main_path = os.path.join(d, "lighttpd-main.conf")
            with open(main_path, "w") as f:
                f.write(main)
            t = subprocess.run(["lighttpd", "-tt", "-f", main_path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if t.returncode != 0:
                raise HarnessError("lighttpd config test failed:\n%s" % t.stdout.decode("utf-8", "replace"))
            proc = self._popen(["lighttpd", "-D", "-f", main_path], log=out_log, env=self._server_env())
            self._lighttpd = {"proc": proc, "port": port, "key": key}
            try:
                _wait_for(lambda: _port_open(port, bind), 20 * self.timeout_factor, "lighttpd", proc=proc, log=log)
                # the port may belong to someone else who took it meanwhile:
                # a server that failed to bind exits at once
                time.sleep(0.2)
                if proc.poll() is not None:
                    raise HarnessError("lighttpd: exited with %s" % proc.returncode)
                break
            except HarnessError as e:
                last = e
                self.stop_lighttpd()
                # bind errors come before the error log is open: on stderr
                if "Address already in use" in _tail_file(log, 20) + _tail_file(out_log, 20):
                    continue
                raise
        else:
            raise last
        self.lighttpd_port = port
        self.lighttpd_url = "http://%s:%d" % (bind, port)
        return port

    @staticmethod
    def _server_env():
        # the apps behind a web server get their settings from RELAY_CONFIG only
        return {k: v for k, v in os.environ.items()
                if not k.startswith("RELAY_") and not k.startswith("APACHE_") and k != "VALGRIND"}

    def stop_lighttpd(self):
        for extra in self._lighttpd_extra:
            _kill_tree(extra["proc"], timeout=15)
        self._lighttpd_extra = []
        if self._lighttpd:
            _kill_tree(self._lighttpd["proc"], timeout=15)
            self._lighttpd = None
            self.lighttpd_url = None
            self.lighttpd_port = None

    def start_apache(self, cgi_bin=None):
        """apache2 -DFOREGROUND with ROOT/apache.conf rendered and included; returns the port.
        Reuses a running instance if cgi_bin and the relay config are unchanged."""
        served = self._served_cgi_bin(cgi_bin, "apache")
        d = os.path.join(self.tmp, "apache")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        cfg = self.write_config(os.path.join(d, "relay.conf"))
        with open(cfg) as f:
            key = (served, f.read())
        if self._apache and self._apache["proc"].poll() is None and self._apache["key"] == key:
            return self._apache["port"]
        self.stop_apache()
        run_dir = os.path.join(self.tmp, "apache-run")
        if os.path.isdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        os.makedirs(run_dir)
        os.chmod(run_dir, 0o755)
        ipc = self._web_owned_dir(os.path.join(run_dir, "fcgid"))
        snippet = self._render(os.path.join(ROOT, "apache.conf"), {
            "@CGI_BIN@": served, "@RELAY_CONFIG@": cfg,
            "@RELAY_PROCS@": str(self.relay_procs())})
        snip_path = os.path.join(d, "llm-relay.conf")
        with open(snip_path, "w") as f:
            f.write(snippet)
        log = os.path.join(self.tmp, "apache-error.log")
        pidf = os.path.join(run_dir, "apache2.pid")
        mods = ["mpm_event", "authz_core", "mime", "alias", "env", "fcgid"]
        servers = max(4, (2 * self.relay_procs() + 50) // 25 + 1)
        last = None
        for _attempt in range(3):
            port = free_port()
            main = "\n".join(
                ["# standalone wrapper written by the test harness",
                 'ServerRoot "/etc/apache2"',
                 'DefaultRuntimeDir "%s"' % run_dir,
                 'PidFile "%s"' % pidf,
                 "ServerName 127.0.0.1",
                 "Listen 127.0.0.1:%d" % port,
                 "User %s" % WEB_USER,
                 "Group %s" % WEB_USER,
                 'ErrorLog "%s"' % log,
                 "LogLevel warn",
                 "Timeout 300",
                 "KeepAlive On",
                 "StartServers 1",
                 # every process of both relay pools may hold a connection
                 "ThreadsPerChild 25",
                 "MaxRequestWorkers %d" % (25 * servers),
                 "ServerLimit %d" % servers]
                + ["LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m) for m in mods]
                + ["TypesConfig /etc/mime.types",
                   'DocumentRoot "%s"' % self._www(),
                   "<Directory />", "  AllowOverride None", "  Require all denied", "</Directory>",
                   '<Directory "%s">' % self._www(), "  Require all granted", "</Directory>",
                   'FcgidIPCDir "%s"' % ipc,
                   'FcgidProcessTableFile "%s"' % os.path.join(ipc, "fcgid_shm"),
                   'Include "%s"' % snip_path,
                   ""])
            main_path = os.path.join(d, "apache-main.conf")
            with open(main_path, "w") as f:
                f.write(main)
            t = subprocess.run(["apache2", "-t", "-f", main_path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if t.returncode != 0:
                raise HarnessError("apache2 config test failed:\n%s" % t.stdout.decode("utf-8", "replace"))
            proc = self._popen(["apache2", "-f", main_path, "-DFOREGROUND"], log=log,
                               env=self._server_env())
            self._apache = {"proc": proc, "port": port, "key": key}
            try:
                _wait_for(lambda: _port_open(port), 20 * self.timeout_factor, "apache2", proc=proc, log=log)
                # the port may belong to someone else who took it meanwhile:
                # a server that failed to bind exits at once
                time.sleep(0.2)
                if proc.poll() is not None:
                    raise HarnessError("apache2: exited with %s" % proc.returncode)
                break
            except HarnessError as e:
                last = e
                self.stop_apache()
                if "Address already in use" in _tail_file(log, 20):
                    continue
                raise
        else:
            raise last
        self.apache_port = port
        self.apache_url = "http://127.0.0.1:%d" % port
        return port

    def stop_apache(self):
        if self._apache:
            _kill_tree(self._apache["proc"], timeout=15)
            self._apache = None
            self.apache_url = None
            self.apache_port = None

    # ------------------------------------------------------------------ HTTP client
    def _http_open(self, url, method, headers, body, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http":
            raise HarnessError("only http:// URLs are supported: %s" % url)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        body = _body_bytes(body) if body is not None else None
        hdrs = {}
        for k, v in _header_items(headers):
            if v is not None:
                hdrs[k] = str(v)
        t0 = time.monotonic()
        conn.request(method, path, body=body, headers=hdrs)
        return conn, conn.getresponse(), t0

    @staticmethod
    def _resp_headers(r):
        raw = list(r.getheaders())
        hd = {}
        for k, v in raw:
            lk = k.lower()
            hd[lk] = hd[lk] + ", " + v if lk in hd else v
        return raw, hd

    def http(self, url, method="GET", headers=None, body=None, timeout=60):
        timeout = timeout * self.timeout_factor
        conn, r, t0 = self._http_open(url, method, headers, body, timeout)
        try:
            data = r.read()
            raw, hd = self._resp_headers(r)
            return Resp(r.status, hd, data, [], raw, t0)
        finally:
            conn.close()

    def http_stream(self, url, method="GET", headers=None, body=None, timeout=60):
        """Like http(), but Resp.chunks = [(time.monotonic(), bytes)] of the
        (de-chunked) body as it arrived."""
        timeout = timeout * self.timeout_factor
        deadline = time.monotonic() + timeout
        conn, r, t0 = self._http_open(url, method, headers, body, timeout)
        chunks = []
        try:
            while True:
                if time.monotonic() > deadline:
                    raise HarnessError("http_stream %s: body not finished after %.0f s" % (url, timeout))
                data = r.read1(65536)
                if not data:
                    break
                chunks.append((time.monotonic(), data))
            raw, hd = self._resp_headers(r)
            return Resp(r.status, hd, b"".join(c for _, c in chunks), chunks, raw, t0)
        finally:
            conn.close()

    # ------------------------------------------------------------------ logs
    def _log_files(self):
        out = []
        for root, dirs, files in os.walk(self.tmp):
            dirs[:] = [x for x in dirs if x not in ("db", "www")]
            for n in sorted(files):
                if n.endswith(".log") or n.endswith(".err"):
                    out.append(os.path.join(root, n))
        return sorted(out)

    def log_mark(self):
        """Remember the current size of every log; logs(since_mark=True) shows only what follows."""
        self._log_marks = {}
        for p in self._log_files():
            try:
                self._log_marks[p] = os.path.getsize(p)
            except OSError:
                pass

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "runtime error:", "UndefinedBehaviorSanitizer")

    def sanitizer_reports(self):
        """ASan/UBSan reports since the last log_mark(): from every log the
        harness keeps, and from the files of $SANITIZER_LOG_DIR (set as
        log_path in ASAN_OPTIONS/UBSAN_OPTIONS by tests/run-all.sh, so even
        processes whose stderr nobody reads are covered)."""
        out = []
        for p in self._log_files():
            try:
                with open(p, "rb") as f:
                    f.seek(self._log_marks.get(p, 0))
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for m in self.SANITIZER_MARKERS:
                i = text.find(m)
                if i >= 0:
                    out.append("%s:\n%s" % (os.path.relpath(p, self.tmp), text[max(0, i - 200):i + 3000]))
                    break
        d = os.environ.get("SANITIZER_LOG_DIR")
        if d and os.path.isdir(d):
            seen = getattr(self, "_san_seen", set())
            for n in sorted(os.listdir(d)):
                p = os.path.join(d, n)
                if p in seen:
                    continue
                seen.add(p)
                try:
                    with open(p, "rb") as f:
                        text = f.read(6000).decode("utf-8", "replace")
                except OSError:
                    continue
                if text.strip():
                    out.append("%s:\n%s" % (p, text))
            self._san_seen = seen
        return out

    def logs(self, lines=40, since_mark=False):
        """Tail of every log file the harness wrote, for failure reports."""
        parts = []
        for p in self._log_files():
            start = self._log_marks.get(p, 0) if since_mark else 0
            t = _tail_file(p, lines, start)
            if t.strip():
                parts.append("==> %s <==\n%s" % (os.path.relpath(p, self.tmp), t))
        return "\n".join(parts)

    # ------------------------------------------------------------------ teardown
    def close(self):
        """Stop everything (by PID) and remove tmp unless KEEP_TMP=1.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for fn in (self.stop_apache, self.stop_lighttpd, self.stop_fcgi_app):
            try:
                fn()
            except Exception as e:
                errors.append(e)
        for p in list(self._running):
            try:
                _kill_tree(p, timeout=5)
            except Exception as e:
                errors.append(e)
        self._running.clear()
        for fn in (self.stop_mock, self.stop_db, self._sweep_leftovers):
            try:
                fn()
            except Exception as e:
                errors.append(e)
        if self in _LIVE_ENVS:
            _LIVE_ENVS.remove(self)
        if os.environ.get("KEEP_TMP") == "1":
            sys.stderr.write("harness: kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise HarnessError("close: %r" % errors)

    def _leftover_pids(self):
        """Processes that run a program from, or name a path in, our tmp
        folder (e.g. servers a test daemonized into a session of their own)."""
        me = os.getpid()
        needle = (self.tmp + "/").encode()
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            try:
                exe = os.readlink("/proc/%s/exe" % name).encode()
            except OSError:
                exe = b""
            if needle in cmd or exe.startswith(needle):
                out.append((int(name), cmd.replace(b"\0", b" ").decode("utf-8", "replace").strip()))
        return out

    def _sweep_leftovers(self):
        """Last resort in close(): end (by PID) whatever still runs from tmp."""
        left = self._leftover_pids()
        for pid, cmd in left:
            sys.stderr.write("harness: killing leftover process %d: %s\n" % (pid, cmd[:200]))
            _kill_tree(pid, timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------

def _header_items(headers):
    if not headers:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)


def _body_bytes(body):
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _shq(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


_CTRL_MAP = {c: 0xF700 + c for c in range(32) if c not in (9, 10, 13)}
_CTRL_UNMAP = {v: k for k, v in _CTRL_MAP.items()}


def _parse_xml_rows(data):
    """Rows of the `mariadb --xml` output (one document per result set)."""
    # XML 1.0 cannot carry control characters or invalid UTF-8, which the
    # client prints raw: park control characters in the private use area
    # while parsing and decode bad bytes as U+FFFD.
    text = data.decode("utf-8", "replace").translate(_CTRL_MAP).strip()
    if not text:
        return []
    xsi_nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    rows = []
    for doc in text.split("<?xml "):
        doc = doc.strip()
        if not doc:
            continue
        doc = doc[doc.index("?>") + 2:]   # drop the declaration (encoding is known)
        root = ET.fromstring(doc)
        for row in root.iter("row"):
            vals = []
            for field in row.findall("field"):
                if field.get(xsi_nil) == "true":
                    vals.append(None)
                else:
                    vals.append((field.text or "").translate(_CTRL_UNMAP))
            rows.append(vals)
    return rows
