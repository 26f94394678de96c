"""qdrant_mm's modules import each other without cycles.

The graph is read from the source with :mod:`ast`, without importing anything: an edge
``a -> b`` for every ``import``/``from ... import`` of a qdrant_mm module that runs when ``a``
is imported, i.e. at module level, inside module-level ``if``/``try``/``with`` blocks, and
inside ``if TYPE_CHECKING:`` blocks too (a type-only import is still a dependency between the
two modules, and a type checker has to resolve it). Imports inside functions and methods are
deliberate lazy imports (heavy optional dependencies, the CLI's start-up time) and are not
edges. ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
``pkg``; the implicit import of a module's parent packages is not an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "qdrant_mm"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join([package, *parts])] = path
    return modules


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run on import: the body, descending into ``if``/``try``/``with``
    blocks (``if TYPE_CHECKING:`` included) but not into functions or classes."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def _resolve(name: str, package: str, level: int) -> str:
    """The absolute name of a (possibly relative) import made from ``package``."""
    if level == 0:
        return name
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The qdrant_mm modules ``module`` imports at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", package, node.level)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # ``import a.b.c`` of a name that is no module: its closest enclosing module.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``a -> b -> ... -> a``) per strongly connected component with more than
    one module, found by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "qdrant_mm.settings" in graph and "qdrant_mm.weights" in graph["qdrant_mm.settings"]
    cycles = find_cycles(graph)
    assert not cycles, "import cycles among qdrant_mm's modules:\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


# --- the finder finds them --------------------------------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "pkg"
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # plain module-level imports
            {"__init__.py": "", "a.py": "from pkg.b import x\n", "b.py": "import pkg.a\nx = 1\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        (  # relative import, ``from package import module``, three modules around
            {
                "__init__.py": "",
                "a.py": "from . import b\n",
                "b.py": "from .sub.c import y\n",
                "sub/__init__.py": "",
                "sub/c.py": "from pkg.a import z\n",
            },
            ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"],
        ),
        (  # an import under ``if TYPE_CHECKING:`` is an edge
            {
                "__init__.py": "",
                "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from pkg.b import B\n",
                "b.py": "from pkg.a import A\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
    ],
)
def test_cycles_are_found_and_named(tmp_path: Path, files: dict, expected: list[str]) -> None:
    pkg = write_package(tmp_path, files)
    assert find_cycles(import_graph(pkg, "pkg")) == [expected]


def test_function_local_imports_are_no_edges(tmp_path: Path) -> None:
    pkg = write_package(
        tmp_path,
        {
            "__init__.py": "from pkg.a import f\n",
            "a.py": "from pkg.b import g\ndef f():\n    from pkg.b import g\n",
            "b.py": "def g():\n    from pkg.a import f\n    return f\n",
        },
    )
    graph = import_graph(pkg, "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert find_cycles(graph) == []
