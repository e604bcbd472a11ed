"""The Debian package (issue 31): `make deb` builds it with debhelper and
lintian finds no error; its files and modes are the documented layout.
Then a clean Debian root made by debootstrap from this machine's mirror,
with MariaDB and Apache: the package's postinst makes the master key, the
log files and the runtime folder and touches no database; MariaDB (with
the package's settings example) and Apache are started inside, the
documented three steps followed (DB credentials, relayctl migrate,
a2enconf llm-relay), meterd started as the cron line would, and
`relayctl doctor` passes every check; a seed example is answered through
Apache; one fault at a time (meterd stopped, a wrong DB password, the pool
too small) is named by doctor. A second run with lighttpd instead of
Apache (lighty-enable-mod llm-relay) passes doctor too. Reinstalling keeps the edited conffile,
purge keeps the master key."""
import glob
import os
import re
import shutil
import socket
import subprocess

from common import OPENAI_REQ, call
from harness import ROOT, Skip, _kill_tree, _port_open, _unix_open, _wait_for, free_port

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


CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _chroot(root, *argv, env=None):
    e = dict(CHROOT_ENV)
    e.update(env or {})
    return subprocess.run(["chroot", root] + list(argv), env=e, capture_output=True, text=True,
                          timeout=300)


def _start(root, argv, log, userspec=None):
    """A server inside the root, in its own session (ended by _kill_tree)."""
    pre = ["chroot"] + (["--userspec=" + userspec] if userspec else []) + [root]
    with open(log, "ab") as out:
        return subprocess.Popen(pre + argv, env=CHROOT_ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


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


def _set(path, **keys):
    """Sets keys of an INI-style file in place (each key once)."""
    with open(path) as f:
        text = f.read()
    for k, v in keys.items():
        text, n = re.subn(r"(?m)^%s =.*$" % k, "%s = %s" % (k, v), text)
        assert n == 1, k
    with open(path, "w") as f:
        f.write(text)


def _check_postinst(root):
    """What the postinst made: the master key, relay.conf's owner, the logs."""
    with open(root + "/etc/passwd") as f:
        www = [l.split(":") for l in f if l.startswith("www-data:")][0]
    st = os.stat(root + "/etc/llm-relay/master.key")
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, int(www[2])), oct(st.st_mode)
    with open(root + "/etc/llm-relay/master.key") as f:
        assert re.fullmatch(r"[0-9a-f]{64}\n", f.read())
    st = os.stat(root + "/etc/llm-relay/relay.conf")
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, int(www[3]))
    for f in ("/var/log/llm-relay-worker.log", "/var/log/llm-relay-meterd.log", "/run/llm-relay"):
        assert os.stat(root + f).st_uid == int(www[2]), f
    # the units are installed, not enabled; no database was created
    assert not glob.glob(root + "/etc/systemd/system/*/llm-relay*")
    assert not os.path.exists(root + "/var/lib/mysql/llm_relay")


def _start_mariadb(root, env, procs):
    """MariaDB inside the root with the package's settings example, as
    README.Debian says; only the port and the sizes are the test's."""
    shutil.copy(root + "/usr/share/llm-relay/examples/mariadb-relay.cnf",
                root + "/etc/mysql/mariadb.conf.d/60-llm-relay.cnf")
    with open(root + "/etc/mysql/mariadb.conf.d/70-test.cnf", "w") as f:
        f.write("[mariadbd]\nport = %d\nbind-address = 127.0.0.1\n"
                "innodb_buffer_pool_size = 32M\ninnodb_log_file_size = 48M\n" % free_port())
    assert _chroot(root, "install", "-d", "-o", "mysql", "/run/mysqld").returncode == 0
    log = os.path.join(env.tmp, "pkg-mariadb.log")
    procs.append(_start(root, ["/usr/sbin/mariadbd", "--user=mysql"], log))
    _wait_for(lambda: _unix_open(root + "/run/mysqld/mysqld.sock"), 120, "MariaDB in the root",
              proc=procs[-1], log=log)
    r = _chroot(root, "mariadb", "-e", "CREATE DATABASE llm_relay;"
                " CREATE USER llm_relay@localhost IDENTIFIED BY 'pkg-pw';"
                " GRANT ALL ON llm_relay.* TO llm_relay@localhost;")
    assert r.returncode == 0, r.stderr


def _start_apache(root, env, procs):
    port = free_port()
    ports = root + "/etc/apache2/ports.conf"
    with open(ports) as f:
        text = re.sub(r"(?m)^Listen 80$", "Listen 127.0.0.1:%d" % port, f.read())
    with open(ports, "w") as f:
        f.write(text)
    log = os.path.join(env.tmp, "pkg-apache.log")
    procs.append(_start(root, ["sh", "-c", ". /etc/apache2/envvars && mkdir -p $APACHE_RUN_DIR"
                               " $APACHE_LOCK_DIR $APACHE_LOG_DIR && exec apache2 -DFOREGROUND"],
                        log))
    _wait_for(lambda: _port_open(port), 60, "Apache in the root", proc=procs[-1], log=log)
    return "http://127.0.0.1:%d" % port


def _doctor(root, **env):
    r = _chroot(root, "relayctl", "doctor", env=env)
    lines = {}
    for l in r.stdout.splitlines():
        if l[:1] in (OK, BAD):
            lines[l[2:].split(":")[0]] = l
    return r, lines


def _server_scenario(root, env, procs):
    _start_mariadb(root, env, procs)
    url = _start_apache(root, env, procs)
    conf = root + "/etc/llm-relay/relay.conf"
    # step 1: the database credentials and the upstream
    _set(conf, db_socket="/run/mysqld/mysqld.sock", db_password="pkg-pw", public_url=url,
         openai_url=env.mock_url + "/v1/chat/completions",
         anthropic_url=env.mock_url + "/v1/messages", upstream_api_key="upstream-pkg-key")
    # step 2
    r = _chroot(root, "relayctl", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    # step 3 (a2enmod fcgid: done by libapache2-mod-fcgid's own postinst)
    r = _chroot(root, "a2enconf", "llm-relay")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _chroot(root, "sh", "-c", ". /etc/apache2/envvars && apache2 -k graceful")
    assert r.returncode == 0, r.stderr
    _start_meterd(root, env, procs)
    r, lines = _doctor(root)
    assert r.returncode == 0 and BAD not in r.stdout, r.stdout + r.stderr
    for what in ("config file mode", "master key", "database", "schema", "routines",
                 "MariaDB durability", "MariaDB thread pool", "MariaDB max_connections",
                 "meterd", "web server pool", "status.php via the web server", "cron"):
        assert what in lines, (what, r.stdout)
    assert "pkg-pw" not in r.stdout + r.stderr
    # a seed example through Apache, metered by meterd
    assert _chroot(root, "relayctl", "user", "add", "alice").returncode == 0
    r = _chroot(root, "relayctl", "key", "create", "alice")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[-1]
    resp = call(env, OPENAI_REQ, key, via=url)
    assert resp.status == 200 and resp.json()["object"] == "chat.completion", resp.body[:300]

    # one fault at a time, each named by its line
    r, lines = _doctor(root, RELAY_DB_PASSWORD="wrong-pw")
    assert r.returncode == 1 and lines["database"].startswith(BAD), r.stdout
    assert "wrong-pw" not in r.stdout + r.stderr
    web = root + "/etc/apache2/conf-available/llm-relay.conf"
    with open(web) as f:
        text = f.read()
    with open(web, "w") as f:
        f.write(text.replace("FcgidMaxProcessesPerClass 101", "FcgidMaxProcessesPerClass 5"))
    r, lines = _doctor(root)
    assert r.returncode == 1 and lines["web server pool"].startswith(BAD), r.stdout
    with open(web, "w") as f:
        f.write(text)
    _kill_tree(procs.pop())
    r, lines = _doctor(root)
    assert r.returncode == 1 and lines["meterd"].startswith(BAD), r.stdout
    assert [k for k, l in lines.items() if l.startswith(BAD)] == ["meterd"], r.stdout


def _start_meterd(root, env, procs):
    """meterd, as the cron line starts it (cron itself does not run here)."""
    log = os.path.join(env.tmp, "pkg-meterd.log")
    procs.append(_start(root, ["env", "RELAY_CONFIG=/etc/llm-relay/relay.conf",
                               "/usr/lib/llm-relay/meterd"], log, userspec="www-data:www-data"))
    sock = root + "/run/llm-relay/meterd.sock"
    _wait_for(lambda: _unix_open(sock, socket.SOCK_SEQPACKET), 60, "meterd in the root",
              proc=procs[-1], log=log)


def _lighttpd_scenario(root, env, procs):
    """The second run: Apache stopped and its snippet disabled, lighttpd
    with the package's snippet (lighty-enable-mod), a smaller queue and
    pool changed together; doctor passes again, a seed answered."""
    _kill_tree(procs.pop())
    assert _chroot(root, "a2disconf", "llm-relay").returncode == 0
    r = _chroot(root, "lighty-enable-mod", "llm-relay")
    assert r.returncode == 0, r.stdout + r.stderr
    web = root + "/etc/lighttpd/conf-available/50-llm-relay.conf"
    with open(web) as f:
        text = f.read()
    with open(web, "w") as f:   # 101 processes started up front: too many here
        f.write(text.replace("=> 101,", "=> 8,"))
    port = free_port()
    main = root + "/etc/lighttpd/lighttpd.conf"
    with open(main) as f:
        text = re.sub(r"(?m)^server.port\s*=.*$", "server.port = %d" % port, f.read())
    with open(main, "w") as f:
        f.write(text)
    url = "http://127.0.0.1:%d" % port
    _set(root + "/etc/llm-relay/relay.conf", queue_max="7", public_url=url)
    _start_meterd(root, env, procs)
    assert _chroot(root, "install", "-d", "-o", "www-data", "-g", "www-data",
                   "/run/lighttpd").returncode == 0
    log = os.path.join(env.tmp, "pkg-lighttpd.log")
    procs.append(_start(root, ["lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"], log))
    _wait_for(lambda: _port_open(port), 60, "lighttpd in the root", proc=procs[-1], log=log)
    r, lines = _doctor(root)
    assert r.returncode == 0 and BAD not in r.stdout, r.stdout + r.stderr
    assert "50-llm-relay.conf" in lines["web server pool"], r.stdout
    r = _chroot(root, "relayctl", "key", "create", "alice")
    assert r.returncode == 0, r.stderr
    resp = call(env, OPENAI_REQ, r.stdout.strip().splitlines()[-1], via=url)
    assert resp.status == 200 and resp.json()["object"] == "chat.completion", resp.body[:300]


def test_package_installs_in_debian_root(env):
    if os.geteuid() != 0:
        raise Skip("debootstrap and chroot need root")
    if not shutil.which("debootstrap"):
        raise AssertionError("debootstrap is missing: sh tools/deps.sh installs it")
    deb = _deb() if glob.glob(os.path.join(ROOT, "llm-relay_*_*.deb")) else _make_deb()
    mirror, suite = _mirror()
    root = os.path.join(env.tmp, "debroot")
    procs = []
    try:
        # minbase, the package's libraries and the servers: dpkg -i needs
        # no network then (about 90 s here, most of it the servers)
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            "--include=libfcgi0ldbl,libjson-c5,libmariadb3,libcurl4,libssl3,"
                            "init-system-helpers,mariadb-server,apache2,libapache2-mod-fcgid,"
                            "lighttpd",
                            suite, root, mirror], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
        shutil.copy(deb, root + "/tmp/llm-relay.deb")
        r = _chroot(root, "dpkg", "-i", "/tmp/llm-relay.deb")
        assert r.returncode == 0, r.stdout + r.stderr
        _check_postinst(root)
        _server_scenario(root, env, procs)
        _lighttpd_scenario(root, env, procs)
        while procs:
            _kill_tree(procs.pop())
        # an upgrade (the same version again) keeps the edited conffile
        r = _chroot(root, "dpkg", "--force-confold", "-i", "/tmp/llm-relay.deb")
        assert r.returncode == 0, r.stdout + r.stderr
        with open(root + "/etc/llm-relay/relay.conf") as f:
            assert "db_password = pkg-pw" in f.read()
        # purge: configuration gone, the master key kept (the sealed keys need it)
        r = _chroot(root, "dpkg", "--purge", "llm-relay")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not os.path.exists(root + "/etc/llm-relay/relay.conf")
        assert os.path.exists(root + "/etc/llm-relay/master.key")
        assert not os.path.exists(root + "/usr/bin/relayctl")
    finally:
        while procs:
            _kill_tree(procs.pop())
        shutil.rmtree(root, ignore_errors=True)


test_package_installs_in_debian_root.timeout = 900
