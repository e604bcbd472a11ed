"""Issue 24: the tree shows the architecture. src/ has a folder per layer
and tools/layers.py (make check, CI) rejects a file that includes a higher
layer and any include or call loop between modules."""
import glob
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(ROOT, "tools", "layers.py")


def _check(src, *objs):
    p = subprocess.run(["python3", CHECK, "--src", src, *objs],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def _copy():
    tmp = tempfile.mkdtemp(prefix="relay-layers.")
    shutil.copytree(os.path.join(ROOT, "src"), os.path.join(tmp, "src"))
    return tmp, os.path.join(tmp, "src")


def _append(path, line):
    with open(path, "a") as f:
        f.write("\n" + line + "\n")


def test_layout_no_flat_src():
    assert glob.glob(os.path.join(ROOT, "src", "*.[ch]")) == []


def test_layout_tree_is_layered():
    objs = [o for o in glob.glob(os.path.join(ROOT, "build", "*.o"))
            if not os.path.basename(o).startswith(("migrations", "templates", "main_"))]
    rc, out = _check(os.path.join(ROOT, "src"), *objs)
    assert rc == 0, out


def test_layout_rejects_upward_include():
    tmp, src = _copy()
    try:
        _append(os.path.join(src, "core", "buf.c"), '#include "console.h"')
        rc, out = _check(src)
        assert rc == 1 and "includes console/console.h, a higher layer" in out, out
    finally:
        shutil.rmtree(tmp)


def test_layout_rejects_include_loop():
    tmp, src = _copy()
    try:
        # sse.c -> sopt.h and sopt.c -> sse.h: the same layer, but a loop
        _append(os.path.join(src, "proto", "sse.c"), '#include "sopt.h"')
        _append(os.path.join(src, "proto", "sopt.c"), '#include "sse.h"')
        rc, out = _check(src)
        assert rc == 1 and "include loop: sopt <-> sse" in out, out
    finally:
        shutil.rmtree(tmp)


def test_layout_rejects_a_stray_file():
    tmp, src = _copy()
    try:
        _append(os.path.join(src, "stray.c"), "int stray;")
        rc, out = _check(src)
        assert rc == 1 and "src/stray.c: not in a layer folder" in out, out
    finally:
        shutil.rmtree(tmp)


def test_layout_rejects_call_loop():
    """Two modules that call each other, read from their objects' symbols
    (nm), with no include between them: ctl_audit defined in ctl.c and
    called from ctl_backend.c was such a loop."""
    tmp, src = _copy()
    try:
        with open(os.path.join(src, "core", "loopa.c"), "w") as f:
            f.write("int loopb(int);\nint loopa(int n) { return n ? loopb(n - 1) : 0; }\n")
        with open(os.path.join(src, "core", "loopb.c"), "w") as f:
            f.write("int loopa(int);\nint loopb(int n) { return n ? loopa(n - 1) : 1; }\n")
        objs = []
        for m in ("loopa", "loopb"):
            o = os.path.join(tmp, m + ".o")
            subprocess.run(["cc", "-c", os.path.join(src, "core", m + ".c"), "-o", o],
                           check=True, timeout=60)
            objs.append(o)
        rc, out = _check(src, *objs)
        assert rc == 1 and "call loop: loopa <-> loopb" in out, out
        rc, out = _check(src)               # without the objects: no include loop
        assert rc == 0, out
    finally:
        shutil.rmtree(tmp)


def test_layout_only_io_talks_to_the_libraries():
    """Handlers and every layer but io reach libcurl, MariaDB and libfcgi
    only through src/io/ (web.c, db.c, up.c), where tests can swap them."""
    tmp, src = _copy()
    try:
        _append(os.path.join(src, "ctl", "ctl.c"), "static void f(void) { curl_easy_init(); }")
        rc, out = _check(src)
        assert rc == 1 and "src/ctl/ctl.c: calls curl_easy_...: only src/io/" in out, out
    finally:
        shutil.rmtree(tmp)
