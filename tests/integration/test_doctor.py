"""relayctl doctor (issue 31): every check passes on the harness's stack
once the test's setup gives it what a server install has (durable
MariaDB, meterd, a cron file, the config file's mode); then one fault at
a time is named with exit 1."""
import os
import pwd

OK, BAD = "\u2713", "\u2717"


def _line(out, what):
    for l in out.splitlines():
        if l[2:].startswith(what + ":") or l[2:].startswith(what + " "):
            return l
    raise AssertionError("no line for %r in:\n%s" % (what, out))


def _setup(env):
    """What the harness lacks of a server install, made here: durable
    commits (the harness runs with 2 for speed), meterd, the cron entry,
    the web server, a relay.conf of mode 0640 naming them."""
    old = env.sql_value("SELECT @@innodb_flush_log_at_trx_commit")
    env.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
    env._write_master_key()
    env.start_meterd()
    env.start_lighttpd()
    cron = os.path.join(env.tmp, "cron.d-llm-relay")
    with open(cron, "w") as f:
        f.write("* * * * * www-data /usr/bin/queue_worker --max-seconds 60\n")
    conf = env.write_config(os.path.join(env.tmp, "doctor", "relay.conf"),
                            RELAY_PUBLIC_URL=env.lighttpd_url, RELAY_CRON_FILE=cron,
                            RELAY_WEB_CONF=os.path.join(env.tmp, "lighttpd", "llm-relay.conf"))
    os.chmod(conf, 0o640)
    os.chown(conf, 0, pwd.getpwnam("www-data").pw_gid)
    return old, conf


def _doctor(env, conf, **over):
    # the file alone, as on a server: no RELAY_* settings from the harness
    e = {k: v for k, v in env.relay_env().items() if not k.startswith("RELAY_")}
    e["RELAY_CONFIG"] = conf
    e.update(over)
    return env.relayctl("doctor", env=e)


def test_doctor_all_pass_then_faults(env):
    old, conf = _setup(env)
    try:
        r = _doctor(env, conf)
        assert r.returncode == 0, r.stdout + r.stderr
        assert BAD not in r.stdout and "all checks passed" in r.stdout, r.stdout
        for what in ("config", "config file mode", "master key", "database", "schema",
                     "MariaDB durability", "MariaDB thread pool", "MariaDB max_connections",
                     "meterd", "web server pool", "status.php via the web server", "cron",
                     "backend default"):
            assert _line(r.stdout, what).startswith(OK), (what, r.stdout)
        assert "relay-pw" not in r.stdout + r.stderr

        # a wrong database password
        r = _doctor(env, conf, RELAY_DB_PASSWORD="wrong-pw")
        assert r.returncode == 1
        l = _line(r.stdout, "database")
        assert l.startswith(BAD) and "fix:" in l and "db_password" in l, r.stdout
        assert "wrong-pw" not in r.stdout + r.stderr

        # a config file every user can read
        os.chmod(conf, 0o644)
        r = _doctor(env, conf)
        assert r.returncode == 1
        assert _line(r.stdout, "config file mode").startswith(BAD), r.stdout
        os.chmod(conf, 0o640)
        # a master key others can read
        os.chmod(env.master_key_file, 0o644)
        r = _doctor(env, conf)
        # (the configuration already refuses such a key: named there)
        assert r.returncode == 1 and BAD + " config: master_key_file" in r.stdout, r.stdout
        os.chmod(env.master_key_file, 0o600)

        # durability off
        env.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
        r = _doctor(env, conf)
        assert r.returncode == 1
        assert _line(r.stdout, "MariaDB durability").startswith(BAD), r.stdout
        env.sql("SET GLOBAL innodb_flush_log_at_trx_commit = 1")

        # the pool too small for upstream_slots + queue_max
        r = _doctor(env, conf, RELAY_QUEUE_MAX="100000")
        assert r.returncode == 1
        assert _line(r.stdout, "web server pool").startswith(BAD), r.stdout
        assert _line(r.stdout, "MariaDB max_connections").startswith(BAD), r.stdout

        # no cron entry
        r = _doctor(env, conf, RELAY_CRON_FILE=os.path.join(env.tmp, "none"))
        assert r.returncode == 1 and _line(r.stdout, "cron or systemd").startswith(BAD)

        # a migration missing
        # (the row is put back afterwards: 022 is not re-runnable)
        v, name = env.sql("SELECT version, name FROM schema_migrations"
                          " ORDER BY version DESC LIMIT 1")[0]
        env.sql("DELETE FROM schema_migrations WHERE version = %s" % v)
        r = _doctor(env, conf)
        assert r.returncode == 1
        l = _line(r.stdout, "schema")
        assert l.startswith(BAD) and "relayctl migrate" in l, r.stdout
        env.sql("INSERT INTO schema_migrations (version, name) VALUES (%s, '%s')" % (v, name))
        # a database migrated by a newer relay than this one
        env.sql("INSERT INTO schema_migrations (version, name) VALUES (999, '999_future')")
        r = _doctor(env, conf)
        assert r.returncode == 1 and "newer than this build" in _line(r.stdout, "schema")
        env.sql("DELETE FROM schema_migrations WHERE version = 999")

        # stored routines recorded in schema_routines but not installed
        # (the table comes with the routines-per-file migration; made here
        # when this schema has none)
        if env.sql_value("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ="
                         " DATABASE() AND table_name = 'schema_routines'") == "0":
            env.sql("CREATE TABLE schema_routines (name VARCHAR(64) PRIMARY KEY)")
            env.sql("INSERT INTO schema_routines VALUES ('relay_admit'), ('request_log_usage')")
            r = _doctor(env, conf)
            assert r.returncode == 0, r.stdout
            assert _line(r.stdout, "routines").startswith(OK + " routines: 2 recorded"), r.stdout
            env.sql("INSERT INTO schema_routines VALUES ('relay_gone')")
            r = _doctor(env, conf)
            assert r.returncode == 1
            l = _line(r.stdout, "routines")
            assert l.startswith(BAD) and "relay_gone" in l and "relayctl migrate" in l, r.stdout
            env.sql("DROP TABLE schema_routines")

        # meterd stopped
        env.stop_meterd()
        r = _doctor(env, conf)
        assert r.returncode == 1
        l = _line(r.stdout, "meterd")
        assert l.startswith(BAD) and "fix:" in l, r.stdout
        assert BAD not in r.stdout.replace(l, ""), r.stdout   # only that one

        # a broken config: named, exit 1
        r = _doctor(env, conf, RELAY_UPSTREAM_SLOTS="0")
        assert r.returncode == 1 and _line(r.stdout, "config").startswith(BAD), r.stdout
    finally:
        env.sql("SET GLOBAL innodb_flush_log_at_trx_commit = %s" % old)


def test_make_run_asks_pkg_config_nothing(env):
    """Issue 31: `make run` printed pkg-config's "Package fcgi was not
    found" (the Makefile asked while parsing) before tools/deps.sh
    installed the packages. With a pkg-config that knows no package, make
    run/stop's recipes print nothing of it; a build still asks."""
    import subprocess
    import tempfile
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    d = tempfile.mkdtemp(prefix="relay-nopc.")
    pc = os.path.join(d, "pkg-config")
    with open(pc, "w") as f:
        f.write('#!/bin/sh\necho "Package fcgi was not found in the pkg-config search path." >&2\n'
                'exit 1\n')
    os.chmod(pc, 0o755)
    e = dict(os.environ, PATH=d + ":" + os.environ["PATH"])
    for goal in ("run", "stop"):
        p = subprocess.run(["make", "-n", "-C", root, goal], env=e, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0 and "Package" not in p.stdout + p.stderr, (goal, p.stderr)
        assert "tools/run.sh" in p.stdout
    p = subprocess.run(["make", "-n", "-C", root, "all"], env=e, capture_output=True,
                       text=True, timeout=60)
    assert "Package fcgi" in p.stderr
