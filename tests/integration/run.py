#!/usr/bin/env python3
"""Integration test runner for llm-relay (Python 3 standard library only).

    python3 tests/integration/run.py [-k SUBSTR] [-x] [--list] [--timeout S]

Imports every tests/integration/test_*.py (sorted), collects the top-level
functions named test_* (in file order) and runs them against ONE shared
harness.Env (MariaDB, mock upstream, and `relayctl migrate` when bin/relayctl
exists).  Before each test: default settings, DB/mock restarted if a test
stopped them, all rows deleted (except schema_migrations and
schema_routines), mock record cleared.  A test takes the Env as its only argument (or none).

A module may define setup_module(env) (run once, before its first selected
test) and teardown_module(env) (after its last).  A test function may carry a
`timeout` attribute (seconds) to change the per-test limit (default 120, or
--timeout / TEST_TIMEOUT).  Raise harness.Skip("why") to skip.

VALGRIND=1 runs the C binaries under valgrind; a test fails if one of them
reported an error (exit status 99 or a non-empty valgrind log).
KEEP_TMP=1 keeps the temp folder.  The last line of output is always
"N passed, N failed" (plus ", N skipped" when tests were skipped); the exit
status is 1 if anything failed.
"""

import argparse
import glob
import importlib.util
import inspect
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import harness  # noqa: E402  (path set up above)

LOG_LINES = 40


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test timed out")


def load_modules():
    """[(basename, module or None, import error text or None)]"""
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        base = os.path.basename(path)
        name = "itest_" + base[:-3]
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            out.append((base, mod, None))
        except Exception:
            sys.modules.pop(name, None)
            out.append((base, None, traceback.format_exc()))
    return out


def collect(mod):
    tests = []
    for name, obj in list(vars(mod).items()):
        if name.startswith("test_") and inspect.isfunction(obj) and obj.__module__ == mod.__name__:
            tests.append((obj.__code__.co_firstlineno, name, obj))
    tests.sort(key=lambda t: t[0])
    return [(name, fn) for _, name, fn in tests]


def call_with_env(fn, env):
    try:
        nparams = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        nparams = 1
    return fn(env) if nparams else fn()


def run_bounded(fn, seconds):
    """Run fn() with a SIGALRM deadline; TestTimeout on expiry."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def main(argv=None):
    ap = argparse.ArgumentParser(description="llm-relay integration tests")
    ap.add_argument("-k", dest="substr", help="run only tests whose 'file::test' contains SUBSTR"
                    " (several SUBSTRs separated by commas: any of them; !SUBSTR leaves out"
                    " the tests that contain it)")
    ap.add_argument("-x", dest="exitfirst", action="store_true", help="stop at the first failure")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--timeout", type=float,
                    default=float(os.environ.get("TEST_TIMEOUT", "120")),
                    help="per-test timeout in seconds (default 120)")
    args = ap.parse_args(argv)

    keys = [k for k in (args.substr or "").split(",") if k]
    want = [k for k in keys if not k.startswith("!")]
    skip = [k[1:] for k in keys if k.startswith("!") and len(k) > 1]

    def chosen(name):
        return (not want or any(k in name for k in want)) and not any(k in name for k in skip)

    modules = load_modules()
    plan = []            # (base, mod, [(name, fn)])
    import_failures = []
    for base, mod, err in modules:
        if mod is None:
            if chosen(base):
                import_failures.append((base, err))
            continue
        tests = [(n, f) for n, f in collect(mod) if chosen("%s::%s" % (base, n))]
        if tests:
            plan.append((base, mod, tests))

    if args.list:
        for base, _mod, tests in plan:
            for name, _fn in tests:
                print("%s::%s" % (base, name))
        for base, _err in import_failures:
            print("%s (import error)" % base)
        return 0

    passed = failed = skipped = 0
    for base, err in import_failures:
        print("FAIL %s::<import>" % base)
        print(indent(err))
        failed += 1
    if failed and args.exitfirst:
        print("%d passed, %d failed" % (passed, failed), flush=True)
        return 1

    total = sum(len(t) for _b, _m, t in plan)
    if total == 0:
        print("%d passed, %d failed" % (passed, failed), flush=True)
        return 1 if failed else 0

    env = harness.Env()
    print("# tmp %s%s" % (env.tmp, "  (VALGRIND=1)" if env.valgrind else ""), flush=True)
    timeout_factor = env.timeout_factor
    setup_error = None
    migrated = False
    t0 = time.monotonic()
    try:
        env.start_db()
        try:
            env.start_mock()
        except harness.HarnessError as e:
            print("# note: mock upstream not started: %s" % str(e).splitlines()[0], flush=True)
        if os.path.exists(os.path.join(env.bin_dir, "relayctl")):
            env.migrate()
            migrated = True
        else:
            print("# note: %s missing (run make): not migrated; tests that need the "
                  "binaries will fail" % os.path.join(env.bin_dir, "relayctl"), flush=True)
    except Exception:
        setup_error = traceback.format_exc()
    print("# setup %.1fs" % (time.monotonic() - t0), flush=True)

    stop = False
    try:
        if setup_error:
            print("FAIL <setup>")
            print(indent(setup_error))
            logs = env.logs(LOG_LINES)
            if logs:
                print(indent(logs))
            failed += total
            stop = True
        for base, mod, tests in plan:
            if stop:
                break
            mod_error = None
            setup_mod = getattr(mod, "setup_module", None)
            if callable(setup_mod):
                try:
                    env.prepare_test(migrated)
                    run_bounded(lambda: call_with_env(setup_mod, env), args.timeout * timeout_factor)
                except Exception:
                    mod_error = traceback.format_exc()
                    print("FAIL %s::setup_module" % base)
                    print(indent(mod_error))
                    logs = env.logs(LOG_LINES, since_mark=True)
                    if logs:
                        print(indent(logs))
            for name, fn in tests:
                label = "%s::%s" % (base, name)
                if mod_error:
                    print("FAIL %s (setup_module failed)" % label, flush=True)
                    failed += 1
                    if args.exitfirst:
                        stop = True
                        break
                    continue
                limit = float(getattr(fn, "timeout", args.timeout)) * timeout_factor
                start = time.monotonic()
                outcome, detail = "ok", None

                def body():
                    env.prepare_test(migrated)
                    env.valgrind_failures()   # forget reports from before the test
                    call_with_env(fn, env)

                try:
                    run_bounded(body, limit)
                except harness.Skip as e:
                    outcome, detail = "skip", str(e)
                except TestTimeout:
                    outcome, detail = "FAIL", "timed out after %.0f s\n%s" % (
                        limit, traceback.format_exc())
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    outcome, detail = "FAIL", traceback.format_exc()
                vg = []
                try:
                    vg = env.valgrind_failures()
                except Exception:
                    pass
                try:
                    vg += ["sanitizer report:\n" + x for x in env.sanitizer_reports()]
                except Exception:
                    pass
                if vg and outcome != "FAIL":
                    outcome = "FAIL"
                    detail = "valgrind/sanitizer reported errors:\n" + "\n".join(vg)
                elif vg:
                    detail += "\nvalgrind/sanitizer reported errors:\n" + "\n".join(vg)
                dt = time.monotonic() - start
                if outcome == "ok":
                    passed += 1
                    print("ok   %s (%.2fs)" % (label, dt), flush=True)
                elif outcome == "skip":
                    skipped += 1
                    print("skip %s (%s)" % (label, detail), flush=True)
                else:
                    failed += 1
                    print("FAIL %s (%.2fs)" % (label, dt))
                    print(indent(detail))
                    try:
                        logs = env.logs(LOG_LINES, since_mark=True)
                    except Exception:
                        logs = ""
                    if logs:
                        print("    --- logs during the test (last %d lines each) ---" % LOG_LINES)
                        print(indent(logs))
                    sys.stdout.flush()
                    if args.exitfirst:
                        stop = True
                        break
            teardown_mod = getattr(mod, "teardown_module", None)
            if callable(teardown_mod) and not mod_error:
                try:
                    run_bounded(lambda: call_with_env(teardown_mod, env), args.timeout * timeout_factor)
                except Exception:
                    print("FAIL %s::teardown_module" % base)
                    print(indent(traceback.format_exc()))
                    failed += 1
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        failed += 1
    finally:
        try:
            env.close()
        except Exception as e:
            print("# close: %s" % e, flush=True)

    summary = "%d passed, %d failed" % (passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
