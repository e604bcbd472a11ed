"""Issue 24: a README that fits on a screen, docs that do not drift.

The configuration reference (docs/ops/configuration.md) and
relay.conf.example are printed by tools/cfgdoc.c from cfg_opts[]
(src/core/cfg.c); these tests fail when a committed copy differs from what
the generator prints (run `make docs`), when README.md grows past 200
lines, when a relative link in README.md or docs/ points nowhere, and when
another table copies the config keys by hand."""
import glob
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CFG_C = os.path.join(ROOT, "src", "core", "cfg.c")
CONF_MD = os.path.join(ROOT, "docs", "ops", "configuration.md")
EXAMPLE = os.path.join(ROOT, "relay.conf.example")
README_MAX = 200


def _cfgdoc():
    """The generator of the flavour last built (make or make SANITIZE=1)."""
    flavour = "build"
    try:
        with open(os.path.join(ROOT, ".flavour")) as f:
            flavour = f.read().strip() or flavour
    except OSError:
        pass
    for d in (flavour, "build", "build-san"):
        path = os.path.join(ROOT, d, "tools", "cfgdoc")
        if os.access(path, os.X_OK):
            return path
    raise AssertionError("tools/cfgdoc is not built: run make")


def _generated(mode):
    p = subprocess.run([_cfgdoc(), mode], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _table_keys():
    """The keys of cfg_opts[], read from the source."""
    src = _read(CFG_C).decode()
    body = src[src.index("cfg_opts[] = {"):]
    body = body[:body.index("\n};")]
    return re.findall(r"^\s*(?:S|S_RANGE|I|I64|B)\((\w+),", body, re.M)


def _docs():
    return [os.path.join(ROOT, "README.md")] + sorted(
        glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))


def test_docs_config_reference_is_generated():
    assert _read(CONF_MD) == _generated("markdown"), \
        "docs/ops/configuration.md differs from tools/cfgdoc's output: run make docs"


def test_docs_config_example_is_generated():
    assert _read(EXAMPLE) == _generated("example"), \
        "relay.conf.example differs from tools/cfgdoc's output: run make docs"


def test_docs_config_every_key_documented():
    keys = _table_keys()
    assert len(keys) >= 47, keys
    example = re.findall(r"^(\w+) =", _read(EXAMPLE).decode(), re.M)
    assert example == keys, set(keys) ^ set(example)
    md = re.findall(r"^\| `(\w+)` \| [^|]*\| [^|]*\| (.+) \|$", _read(CONF_MD).decode(), re.M)
    assert [k for k, _ in md] == keys, set(keys) ^ {k for k, _ in md}
    assert all(len(meaning) > 10 for _, meaning in md), md


def test_docs_no_hand_copied_key_tables():
    """Only the generated reference lists the config keys in a table: a
    table elsewhere whose first column names three or more of them is a
    hand-kept copy (one key may be a column's name too: `models`)."""
    keys = set(_table_keys())
    found = []
    for path in _docs():
        if path == CONF_MD:
            continue
        table = []
        for n, line in enumerate(_read(path).decode().splitlines() + [""], 1):
            if not line.startswith("|"):
                hits = sorted(set().union(*[h for _, h in table])) if table else []
                if len(hits) >= 3:
                    found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), table[0][0], hits))
                table = []
                continue
            first = line.split("|")[1]
            table.append((n, keys & set(re.findall(r"`(\w+)`", first))))
    assert not found, found


def test_docs_readme_fits_on_a_screen():
    n = len(_read(os.path.join(ROOT, "README.md")).decode().splitlines())
    assert n <= README_MAX, "README.md has %d lines (at most %d)" % (n, README_MAX)


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_docs_relative_links_resolve():
    broken = []
    files = _docs() + [os.path.join(ROOT, "cgi-bin", "README"), os.path.join(ROOT, "bin", "README")]
    for path in _docs():
        text = _read(path).decode()
        # links inside code blocks are code, not links
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for n, line in enumerate(text.splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue
                dest = os.path.normpath(os.path.join(os.path.dirname(path), target.split("#")[0]))
                if not os.path.exists(dest):
                    broken.append("%s: %s" % (os.path.relpath(path, ROOT), target))
    assert not broken, broken
    # the plain-text READMEs name docs by path from the top
    for path in files[-2:]:
        for ref in re.findall(r"\bdocs/[\w/.-]+\.md\b", _read(path).decode()):
            dest = os.path.join(ROOT, ref)
            assert os.path.exists(dest), (path, ref)
