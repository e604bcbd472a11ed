"""Issue 24: the schema history (sql/schema/) and one file per routine
(sql/routines/), applied by relayctl migrate (docs/design/sql-routines.md).

Each test works in databases of its own (llm_relay_m_*), so the shared one
the other tests use is never touched. "Old" is a database as the releases
before this change left it: the flat sql/001..022 of that time (kept as a
fixture in data/sql-022/) applied in order by the mariadb client, with
schema_migrations filled as relayctl did."""
import glob
import hashlib
import os
import re
import subprocess
import threading

from common import call, req, usage, wait_until
from harness import ROOT

ROUTINES = os.path.join(ROOT, "sql", "routines")
OLD_SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sql-022")
KIND = re.compile(r"^CREATE OR REPLACE (?:ALGORITHM=\S+ )?(?:SQL SECURITY \S+ )?"
                  r"(PROCEDURE|FUNCTION|TRIGGER|VIEW) (\w+)", re.M)


def _fresh_db(env, name):
    env.sql("DROP DATABASE IF EXISTS %s;"
            "CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
            "GRANT ALL ON %s.* TO 'relay'@'localhost';"
            "GRANT ALL ON %s.* TO 'relay'@'127.0.0.1';" % (name, name, name, name), db=None)


def _drop_db(env, name):
    env.sql("DROP DATABASE IF EXISTS %s" % name, db=None)


def _migrate(env, db):
    r = env.relayctl("migrate", env=env.relay_env(RELAY_DB_NAME=db))
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def _files():
    """{name: (kind, statement text as the server gets it)} of sql/routines."""
    out = {}
    for path in sorted(glob.glob(os.path.join(ROUTINES, "*.sql"))):
        name = os.path.basename(path)[:-4]
        text = open(path).read()
        m = KIND.search(text)
        assert m and m.group(2) == name, path
        delim = ";"
        body = []
        for line in text.split("\n"):
            t = line.strip()
            if not body and t.upper().startswith("DELIMITER "):
                delim = t[10:]
            elif body or (t and not t.startswith("--")):
                body.append(line)
        stmt = "\n".join(body).rstrip()
        stmt = stmt[:stmt.rindex(delim)] if delim in stmt[-len(delim) - 20:] else stmt
        out[name] = (m.group(1), stmt)
    return out


def _norm(s):
    s = re.sub(r"DEFINER=`[^`]*`@`[^`]*` ", "", s)
    s = s.replace("CREATE OR REPLACE ", "CREATE ").replace("`", "")
    return " ".join(s.split())


def _present(env, db):
    """{name: kind} of the procedures, functions, triggers and views of db."""
    rows = env.sql(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES"
        " WHERE ROUTINE_SCHEMA = '%s'"
        " UNION ALL SELECT TRIGGER_NAME, 'TRIGGER' FROM information_schema.TRIGGERS"
        " WHERE TRIGGER_SCHEMA = '%s'"
        " UNION ALL SELECT TABLE_NAME, 'VIEW' FROM information_schema.VIEWS"
        " WHERE TABLE_SCHEMA = '%s'" % (db, db, db), db=None)
    return {r[0]: r[1] for r in rows}


def _show_create(env, db, kind, name):
    row = env.sql("SHOW CREATE %s %s.%s" % (kind, db, name), db=None)[0]
    return (row[1] if kind == "VIEW" else row[2]).replace("`%s`." % db, "")


def _sql_raw(env, db, text):
    """text through the mariadb client as root, comments kept (as relayctl
    sends them; the client drops them by default)."""
    r = subprocess.run(["mariadb", "--no-defaults", "-S", env.db_sock, "-uroot", "--comments",
                        "--default-character-set=utf8mb4", db], input=text.encode("utf-8"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, (r.stderr, text[:500])


def _show_create_of_file(env, db, kind, name, stmt):
    """What the server shows for the file's statement: SHOW CREATE rewrites
    a routine's characteristics and a view's query, so the file's text is
    created under another name in the same database, shown, named back."""
    ref = "zz_ref_" + name
    sql = re.sub(r"\b%s %s\b" % (kind, name), "%s %s" % (kind, ref), stmt, count=1)
    _sql_raw(env, db, "DELIMITER $$$\n%s\n$$$\nDELIMITER ;\n" % sql)
    try:
        return _show_create(env, db, kind, ref).replace("`%s`" % ref, "`%s`" % name) \
            .replace(" %s " % ref, " %s " % name)
    finally:
        env.sql("DROP %s %s" % (kind, ref), db=db)


def _stored_body(env, db, kind, name):
    """The body as the server keeps it (the text after the header)."""
    if kind == "TRIGGER":
        q = ("SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS"
             " WHERE TRIGGER_SCHEMA = '%s' AND TRIGGER_NAME = '%s'" % (db, name))
    else:   # information_schema shows it with its literals unescaped
        q = ("SELECT CONVERT(body USING utf8mb4) FROM mysql.proc"
             " WHERE db = '%s' AND name = '%s' AND type = '%s'" % (db, name, kind))
    return env.sql_value(q, db=None)


def _assert_routines_are_the_files(env, db):
    files = _files()
    have = _present(env, db)
    assert have == {n: k for n, (k, _s) in files.items()}, (
        sorted(set(have) ^ set(files)))
    for name, (kind, stmt) in files.items():
        got = _show_create(env, db, kind, name)
        assert _norm(got) == _norm(_show_create_of_file(env, db, kind, name, stmt)), name
        if kind != "VIEW":
            # and the body byte for byte, whitespace aside
            body = _norm(_stored_body(env, db, kind, name))
            assert len(body) >= 8 and _norm(stmt).endswith(" " + body), (name, body, stmt)
    rows = sorted(env.sql("SELECT name, kind, sha256 FROM schema_routines", db=db))
    assert rows == [[n, files[n][0], hashlib.sha256(
        open(os.path.join(ROUTINES, n + ".sql"), "rb").read()).hexdigest()]
        for n in sorted(files)], rows


def _tables(env, db):
    """{table: SHOW CREATE TABLE} of db (AUTO_INCREMENT counters aside)."""
    names = [r[0] for r in env.sql(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s'"
        " AND TABLE_TYPE = 'BASE TABLE'" % db, db=None)]
    return {n: re.sub(r" AUTO_INCREMENT=\d+", "", env.sql(
        "SHOW CREATE TABLE %s.%s" % (db, n), db=None)[0][1]) for n in names}


def _schema_since_fixture():
    """The schema migrations newer than the fixture's last (022)."""
    return len([f for f in os.listdir(os.path.join(ROOT, "sql", "schema"))
                if f.endswith(".sql") and int(f.split("_")[0]) > 22])


def _old_db(env, db):
    """db as relayctl migrate of the release before this change left it."""
    _fresh_db(env, db)
    env.sql("CREATE TABLE schema_migrations ("
            " version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,"
            " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", db=db)
    for path in sorted(glob.glob(os.path.join(OLD_SQL, "0*.sql"))):
        base = os.path.basename(path)[:-4]
        _sql_raw(env, db, open(path).read())
        env.sql("INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')"
                % (int(base[:3]), base), db=db)


def test_migrate_from_scratch_routines_are_the_files(env):
    """(a) A new database: every routine the files define, as they define
    it, and no other; (d) a second migrate applies nothing."""
    db = "llm_relay_m_new"
    _fresh_db(env, db)
    try:
        out = _migrate(env, db)
        n = len(_files())
        assert "routines up to date (%d routine(s) applied now, 0 dropped, %d known)" % (
            n, n) in out, out
        _assert_routines_are_the_files(env, db)
        out = _migrate(env, db)
        assert "0 migration(s) applied now" in out, out
        assert "(0 routine(s) applied now, 0 dropped" in out, out
        assert "applied" not in out.replace("applied now", ""), out
        assert "relay_free_slot" not in _present(env, db)
    finally:
        _drop_db(env, db)


def test_migrate_an_old_database(env):
    """(b) A database of the release before: no schema migration runs
    again, the routines become the files (relay_free_slot, which nothing
    calls, dropped), and every table is exactly what a new database has."""
    old, new = "llm_relay_m_old", "llm_relay_m_new"
    _old_db(env, old)
    _fresh_db(env, new)
    try:
        before = _present(env, old)
        assert before.get("relay_free_slot") == "FUNCTION", before
        # the same routines by name, relay_free_slot aside (their bodies
        # were the files' when sql/routines was made; routines changed
        # since, which the migrate below applies)
        _migrate(env, new)
        del before["relay_free_slot"]
        now = _present(env, new)
        assert {n: now.get(n) for n in before} == before, (before, now)
        tables_before = _tables(env, old)
        out = _migrate(env, old)
        assert "schema up to date (%d migration(s) applied now" % _schema_since_fixture() in out, out
        assert "dropped FUNCTION relay_free_slot" in out, out
        _assert_routines_are_the_files(env, old)
        assert "relay_free_slot" not in _present(env, old)
        after = _tables(env, old)
        # the tables are untouched, but for the new record of the routines
        # (and what the schema files after the fixture's 022 change)
        assert after.pop("schema_routines")
        if _schema_since_fixture() == 0:
            assert after == tables_before
        assert _tables(env, old) == _tables(env, new)
        assert "(0 routine(s) applied now, 0 dropped" in _migrate(env, old)
    finally:
        _drop_db(env, old)
        _drop_db(env, new)


def test_migrate_reapplies_only_what_changed(env):
    """(c) A routine whose file changed (its recorded hash differs) is
    applied again, and only it; one that went missing is put back; one no
    file defines is dropped."""
    db = "llm_relay_m_chg"
    _fresh_db(env, db)
    try:
        _migrate(env, db)
        # as if relay_let_go.sql had changed since: the database holds
        # another body and another hash
        env.sql("CREATE OR REPLACE PROCEDURE relay_let_go(IN p_prefix VARCHAR(64),"
                " IN p_slots INT, IN p_maxwait INT) DO RELEASE_ALL_LOCKS();"
                "UPDATE schema_routines SET sha256 = REPEAT('0', 64)"
                " WHERE name = 'relay_let_go';"
                "DROP FUNCTION relay_sleeper;"
                "CREATE FUNCTION relay_zz_gone() RETURNS INT RETURN 1;"
                "CREATE VIEW zz_gone AS SELECT 1 AS one", db=db)
        out = _migrate(env, db)
        applied = re.findall(r"^applied routine (\S+)$", out, re.M)
        assert applied == ["relay_let_go", "relay_sleeper"], out
        assert "(2 routine(s) applied now, 2 dropped" in out, out
        assert "dropped FUNCTION relay_zz_gone" in out and "dropped VIEW zz_gone" in out, out
        _assert_routines_are_the_files(env, db)
        assert "(0 routine(s) applied now, 0 dropped" in _migrate(env, db)
    finally:
        _drop_db(env, db)


def test_migrate_on_a_live_database(env):
    """(e) Every routine applied again, three times over, while requests
    run through them (a limited user: relay_admit, relay_reserve, the
    queue's relay_wait and relay_wake with one slot, relay_finish, the
    slot taken in relay_take_slot, relay_finish and relay_settle, the
    trigger): CREATE OR REPLACE leaves no moment without a routine, so
    every request is answered 200 and metered once."""
    env.settings["RELAY_UPSTREAM_SLOTS"] = "8"   # nobody queues (202)
    key = env.add_user("alice", daily_requests=100000, daily_tokens=0)
    done = threading.Event()
    got = [[] for _ in range(3)]

    def client(i):
        while not done.is_set() or len(got[i]) < 2:
            got[i].append(call(env, req(), key, via="fcgi" if i == 0 else "cgi").status)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    try:
        wait_until(lambda: all(got), what="every client's first answer")
        for _ in range(3):
            env.sql("UPDATE schema_routines SET sha256 = ''")
            out = _migrate(env, "llm_relay")
            assert "(%d routine(s) applied now, 0 dropped" % len(_files()) in out, out
    finally:
        done.set()
        for t in ts:
            t.join(120)
    statuses = [s for g in got for s in g]
    assert statuses and set(statuses) == {200}, statuses
    env.settle()
    assert env.sql_value("SELECT COUNT(*) FROM request_log") == str(len(statuses))
    assert usage(env, "alice")[0] == len(statuses)


def test_migrate_every_routine_defined_once():
    """Each routine name is in exactly one CREATE across sql/: its own file
    in sql/routines, never in the table history (sql/schema)."""
    created = {}
    kinds = r"(?:PROCEDURE|FUNCTION|TRIGGER|VIEW)"
    for path in sorted(glob.glob(os.path.join(ROOT, "sql", "*", "*.sql"))):
        with open(path) as f:
            text = re.sub(r"--[^\n]*", "", f.read())
        for m in re.finditer(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:[A-Z=_]+\s+)*?%s\s+`?(\w+)" % kinds,
                             text, re.I):
            created.setdefault(m.group(1), []).append(os.path.relpath(path, ROOT))
    twice = {n: p for n, p in created.items() if len(p) != 1}
    assert not twice, twice
    for name, (path,) in created.items():
        assert path == "sql/routines/%s.sql" % name, (name, path)
    files = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "sql", "routines", "*.sql"))}
    assert files == set(created), files ^ set(created)
