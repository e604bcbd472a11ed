#!/usr/bin/env python3
"""Checks the layering of src/ (STYLE.md, the README's layout table).

A file may include headers of its own folder and of the folders below it
in LAYERS (the Makefile's order, lowest first); no two modules (a .c/.h
pair) may include each other in a loop, and when objects are given, no two
may call each other in a loop (read from `nm`). Exits 1 naming each fault.
  python3 tools/layers.py [--src DIR] [build/*.o]"""
import os, re, subprocess, sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
if sys.argv[1:2] == ["--src"]:
    SRC = sys.argv[2]
    del sys.argv[1:3]
LAYERS = "core proto xlate io meter relay admin ops doors console ctl main".split()
home = {}  # module stem -> layer
files = []
for layer in LAYERS:
    for f in sorted(os.listdir(os.path.join(SRC, layer))):
        home[f.rsplit(".", 1)[0]] = layer
        files.append((layer, f))
faults = []
for d in os.listdir(SRC):
    if os.path.isfile(os.path.join(SRC, d)) or d not in LAYERS:
        faults.append("src/%s: not in a layer folder" % d)


def cycles(edges, what):
    """Reports each strongly connected group of two or more modules."""
    index, low, stack, on, n = {}, {}, [], set(), [0]

    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop(); on.discard(w); group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                faults.append("%s loop: %s" % (what, " <-> ".join(sorted(group))))
    for v in sorted(edges):
        if v not in index:
            visit(v)


inc = {}
for layer, f in files:
    me = f.rsplit(".", 1)[0]
    with open(os.path.join(SRC, layer, f)) as fh:
        for line in fh:
            lib = re.search(r'\b(curl_easy_|curl_multi_|mysql_|FCGX_|FCGI_)\w*\s*\(', line)
            if lib and layer != "io" and not line.lstrip().startswith(("/*", "*")):
                faults.append("src/%s/%s: calls %s...: only src/io/ talks to libcurl,"
                              " MariaDB and libfcgi" % (layer, f, lib.group(1)))
            m = re.match(r'\s*#\s*include\s+"([^"]+)\.h"', line)
            if not m or m.group(1) == me:
                continue
            dep = m.group(1)
            if dep not in home:
                faults.append("src/%s/%s: includes %s.h, which no layer holds" % (layer, f, dep))
                continue
            inc.setdefault(me, set()).add(dep)
            if LAYERS.index(home[dep]) > LAYERS.index(layer):
                faults.append("src/%s/%s: includes %s/%s.h, a higher layer"
                              % (layer, f, home[dep], dep))
cycles(inc, "include")
for layer in LAYERS[:-1]:  # main/ holds main() files only
    opening = "/* Layer %s (src/%s/): " % (layer, layer)
    mains = [f for l, f in files if l == layer and f.endswith(".h") and
             open(os.path.join(SRC, l, f)).read().startswith(opening)]
    if len(mains) != 1:
        faults.append("src/%s: %d headers open with %r (want the main one)"
                      % (layer, len(mains), opening))

if len(sys.argv) > 1:  # the call graph, from the objects' symbols
    defined, used = {}, {}
    for o in sys.argv[1:]:
        me = os.path.basename(o)[:-2]
        if me not in home:
            continue
        out = subprocess.run(["nm", o], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used.setdefault(me, set()).add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = me
    calls = {m: {defined[s] for s in syms if s in defined and defined[s] != m}
             for m, syms in used.items()}
    for m, deps in calls.items():
        for d in deps:
            if LAYERS.index(home[d]) > LAYERS.index(home[m]):
                faults.append("%s (%s) calls %s (%s), a higher layer" % (m, home[m], d, home[d]))
    cycles(calls, "call")

for f in faults:
    print("layers:", f)
print("layers: %d fault(s) in %d files" % (len(faults), len(files)))
sys.exit(1 if faults else 0)
