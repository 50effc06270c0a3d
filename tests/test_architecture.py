"""Architecture rules checked on the source: no import cycles inside ``structnoise``.

Imports are read with :mod:`ast` (nothing is imported), at module level and inside
functions alike: a function-local import still ties two modules together, it only
delays the failure. An edge ``a -> b`` means that module ``a`` names module ``b`` in an
``import`` or ``from ... import`` statement (``from pkg import name`` counts as an import
of ``pkg.name`` when that is a module, else of ``pkg``); the implicit import of a parent
package is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "structnoise"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: {modules of the package it imports}}``, local imports included."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    if not is_package:
                        anchor = anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
                targets = [t if t in modules else base for t in targets]
            for target in targets:
                if not target.startswith(PACKAGE):
                    continue
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_graph_sees_local_and_relative_imports(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from structnoise.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from structnoise.sub.a import f\nimport os\n")
    graph = import_graph(pkg)
    assert graph["structnoise.sub.a"] == {"structnoise.sub.b"}
    assert graph["structnoise.sub.b"] == {"structnoise.sub.a"}
    assert graph["structnoise.sub"] == {"structnoise.sub.a"}
    assert import_cycles(graph) == [["structnoise.sub.a", "structnoise.sub.b"]]


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles in structnoise:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )
