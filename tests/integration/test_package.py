"""The Debian package (issue 31): `make deb` builds it with debhelper and
lintian finds no error; its files and modes are the documented layout; it
installs into a clean Debian root made by debootstrap from this machine's
mirror, whose postinst makes the master key, the log files and the
runtime folder and touches no database; the installed relayctl then
migrates and checks the harness's MariaDB with the package's own paths
(the operator's steps: DB credentials, relayctl migrate), and purge keeps
the master key."""
import glob
import os
import re
import shutil
import subprocess

from harness import ROOT, Skip

OK, BAD = "\u2713", "\u2717"


def _deb():
    debs = glob.glob(os.path.join(ROOT, "llm-relay_*_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def _make_deb():
    r = subprocess.run(["make", "-s", "deb"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "lintian: no errors" in out and not re.search(r"^E: ", out, re.M), out[-4000:]
    return _deb()


def _listing(deb):
    """path -> (mode string, owner/group) from dpkg-deb -c."""
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                         check=True).stdout
    files = {}
    for l in out.splitlines():
        f = l.split()
        files[f[5].lstrip(".")] = (f[0], f[1])
    return files


def _mirror():
    """The Debian mirror and suite apt uses here (apt-cache policy)."""
    out = subprocess.run(["apt-cache", "policy"], capture_output=True, text=True).stdout
    for l in out.splitlines():
        m = re.match(r"\s*\d+ (https?://\S+) (\w+)/main ", l)
        if m and "security" not in m.group(1) and "-" not in m.group(2):
            return m.group(1), m.group(2)
    raise AssertionError("no Debian mirror in apt-cache policy:\n" + out)


def _chroot(root, *argv, env=None):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    e.update(env or {})
    return subprocess.run(["chroot", root] + list(argv), env=e, capture_output=True, text=True,
                          timeout=300)


def test_package_build_lintian_layout(env):
    deb = _make_deb()
    files = _listing(deb)
    exe = ["/usr/bin/relayctl", "/usr/lib/llm-relay/queue_worker", "/usr/lib/llm-relay/meterd"]
    exe += ["/usr/lib/llm-relay/cgi-bin/" + b for b in
            ("call", "status", "queue_status", "docs", "v1", "console", "metrics")]
    for f in exe:
        assert files[f] == ("-rwxr-xr-x", "root/root"), (f, files.get(f))
    assert files["/etc/llm-relay/relay.conf"][0] == "-rw-r-----"
    for f in ("/etc/apache2/conf-available/llm-relay.conf",
              "/etc/lighttpd/conf-available/50-llm-relay.conf", "/etc/cron.d/llm-relay",
              "/etc/logrotate.d/llm-relay", "/lib/systemd/system/llm-relay-meterd.service",
              "/lib/systemd/system/llm-relay-worker.service",
              "/lib/systemd/system/llm-relay-worker.timer", "/usr/lib/tmpfiles.d/llm-relay.conf",
              "/usr/share/llm-relay/examples/mariadb-relay.cnf",
              "/usr/share/doc/llm-relay/README.Debian", "/usr/share/man/man1/relayctl.1.gz"):
        assert files[f] == ("-rw-r--r--", "root/root"), (f, files.get(f))
    # nothing of make's build, no debug files, the daemons not in /usr/bin
    assert not [f for f in files if "/debug/" in f or f.startswith("/usr/local")]
    assert "/usr/bin/meterd" not in files and "/usr/bin/queue_worker" not in files
    ctl = subprocess.run(["dpkg-deb", "-e", deb, os.path.join(env.tmp, "DEBIAN")], check=True)
    with open(os.path.join(env.tmp, "DEBIAN", "conffiles")) as f:
        conffiles = f.read().split()
    assert "/etc/llm-relay/relay.conf" in conffiles and "/etc/cron.d/llm-relay" in conffiles
    with open(os.path.join(env.tmp, "DEBIAN", "postinst")) as f:
        code = [l for l in f if not l.lstrip().startswith("#")]
    assert code and not [l for l in code if re.search(r"\b(mysql|mariadb|relayctl)\b", l)]
    assert ctl.returncode == 0


test_package_build_lintian_layout.timeout = 900


def _configure(root, env):
    """Step 1 of the documented three: the DB credentials in relay.conf
    (here the harness's MariaDB over TCP, which the chroot shares)."""
    path = root + "/etc/llm-relay/relay.conf"
    with open(path) as f:
        text = f.read()
    for k, v in (("db_host", "127.0.0.1"), ("db_port", str(env.db_port)), ("db_user", "relay"),
                 ("db_password", "relay-pw"), ("db_name", "llm_relay_pkg")):
        text, n = re.subn(r"(?m)^%s =.*$" % k, "%s = %s" % (k, v), text)
        assert n == 1, k
    with open(path, "w") as f:
        f.write(text)


def test_package_installs_in_debian_root(env):
    if os.geteuid() != 0:
        raise Skip("debootstrap and chroot need root")
    if not shutil.which("debootstrap"):
        raise AssertionError("debootstrap is missing: sh tools/deps.sh installs it")
    deb = _deb() if glob.glob(os.path.join(ROOT, "llm-relay_*_*.deb")) else _make_deb()
    mirror, suite = _mirror()
    root = os.path.join(env.tmp, "debroot")
    try:
        # minbase plus the package's libraries: dpkg -i needs no network then
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            "--include=libfcgi0ldbl,libjson-c5,libmariadb3,libcurl4,libssl3,"
                            "init-system-helpers", suite, root, mirror],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
        shutil.copy(deb, root + "/tmp/llm-relay.deb")
        r = _chroot(root, "dpkg", "-i", "/tmp/llm-relay.deb")
        assert r.returncode == 0, r.stdout + r.stderr
        st = os.stat(root + "/etc/llm-relay/master.key")
        with open(root + "/etc/passwd") as f:
            www = [l.split(":") for l in f if l.startswith("www-data:")][0]
        assert (st.st_mode & 0o777, st.st_uid) == (0o600, int(www[2])), oct(st.st_mode)
        with open(root + "/etc/llm-relay/master.key") as f:
            assert re.fullmatch(r"[0-9a-f]{64}\n", f.read())
        st = os.stat(root + "/etc/llm-relay/relay.conf")
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, int(www[3]))
        for f in ("/var/log/llm-relay-worker.log", "/var/log/llm-relay-meterd.log",
                  "/run/llm-relay"):
            assert os.stat(root + f).st_uid == int(www[2]), f
        # the units are installed, not enabled
        assert not glob.glob(root + "/etc/systemd/system/*/llm-relay*")
        # a database of its own, empty: the postinst created no table
        env.sql("DROP DATABASE IF EXISTS llm_relay_pkg")
        env.sql("CREATE DATABASE llm_relay_pkg")
        env.sql("GRANT ALL ON llm_relay_pkg.* TO 'relay'@'127.0.0.1'")
        _configure(root, env)
        r = _chroot(root, "relayctl", "migrate")
        assert r.returncode == 0, r.stdout + r.stderr
        r = _chroot(root, "relayctl", "doctor")
        # no web server, meterd nor tuned MariaDB in this root: those fail,
        # the package's own parts pass
        for what in ("config file mode", "master key", "schema", "routines", "cron"):
            l = [x for x in r.stdout.splitlines() if x[2:].startswith(what)]
            assert l and l[0].startswith(OK), (what, r.stdout)
        assert "relay-pw" not in r.stdout + r.stderr
        # an upgrade (the same version again) keeps the edited conffile
        r = _chroot(root, "dpkg", "--force-confold", "-i", "/tmp/llm-relay.deb")
        assert r.returncode == 0, r.stdout + r.stderr
        with open(root + "/etc/llm-relay/relay.conf") as f:
            assert "db_password = relay-pw" in f.read()
        # purge: configuration gone, the master key kept (the sealed keys need it)
        r = _chroot(root, "dpkg", "--purge", "llm-relay")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not os.path.exists(root + "/etc/llm-relay/relay.conf")
        assert os.path.exists(root + "/etc/llm-relay/master.key")
        assert not os.path.exists(root + "/usr/bin/relayctl")
    finally:
        env.sql("DROP DATABASE IF EXISTS llm_relay_pkg")
        shutil.rmtree(root, ignore_errors=True)


test_package_installs_in_debian_root.timeout = 900
