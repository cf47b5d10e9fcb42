"""The package's import rule, read from the source (every import, at module level or inside a
function), and importing every module without side effects on the process.

The rule (README, Layout):
    * fieldnet.io (the file contract) imports only fieldnet.errors;
    * fieldnet.engine imports fieldnet.errors and fieldnet.io;
    * fieldnet.training adds the engine;
    * fieldnet.simulations imports only fieldnet.errors and fieldnet.io;
    * fieldnet.analysis imports fieldnet.errors, io, engine and training, never the simulations;
    * fieldnet.app (command line, pipeline, report) is the only part that composes them all;
    * no module imports itself back through a chain of others (no cycles).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> installed package name
SOURCES = {"fieldnet": "fieldnet", "simulations": "fieldnet.simulations", "analysis": "fieldnet.analysis"}
# part -> the parts it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "io": {"errors", "root"},
    "engine": {"errors", "io", "root"},
    "training": {"errors", "io", "engine", "root"},
    "simulations": {"errors", "io", "root"},
    "analysis": {"errors", "io", "engine", "training", "root"},
    "app": {"errors", "io", "engine", "training", "simulations", "analysis", "root"},
    "root": {"errors"},
}


def _modules() -> dict[str, Path]:
    """Installed module name -> source file, for every module of the three packages."""
    out = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _part(module: str) -> str:
    pieces = module.split(".")
    if module == "fieldnet":
        return "root"
    if pieces[1] in ("errors",):
        return "errors"
    if pieces[1] in ("cli", "__main__", "app"):
        return "app"
    return pieces[1]


def _imports(module: str, path: Path) -> set[str]:
    """Project modules that ``module`` imports anywhere in its source (resolved to modules)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_the_graph_sees_every_part():
    parts = {_part(m) for m in MODULES}
    assert parts == set(ALLOWED), parts
    assert GRAPH["fieldnet.app.pipeline"] & {m for m in MODULES if _part(m) == "simulations"}


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_the_rule_allows(part):
    broken = [f"{m} imports {dep}" for m in sorted(MODULES) if _part(m) == part
              for dep in sorted(GRAPH[m]) if _part(dep) != part and _part(dep) not in ALLOWED[part]]
    assert not broken, "\n".join(broken)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


_PROBE = r"""
import json, os, sys, importlib
import numpy as np
from threadpoolctl import threadpool_info
env_before = dict(os.environ)
threads_before = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
threads_after = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["filepath"] in threads_before}
changed_env = sorted(k for k in set(env_before) | set(os.environ) if env_before.get(k) != os.environ.get(k))
print(json.dumps({"env": changed_env, "threads": threads_before == threads_after,
                  "pyplot": "matplotlib.pyplot" in sys.modules}))
"""


def test_importing_every_module_changes_nothing_in_the_process():
    """No environment variable, no BLAS thread count and no matplotlib backend is touched by an
    import (numpy is imported first, as in every notebook)."""
    names = sorted(m for m in MODULES if not m.endswith("__main__"))
    res = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(names)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report == {"env": [], "threads": True, "pyplot": False}
