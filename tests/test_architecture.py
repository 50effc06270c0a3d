"""Architecture rules checked on the source: no import cycles, re-exports only in packages.

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


def _module_level_imports(tree: ast.Module) -> dict[str, int]:
    """Names bound by imports at module level (also under ``if``/``try``): name -> line."""
    bound: dict[str, int] = {}
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If | ast.Try):
            stack.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound[(alias.asname or alias.name).split(".")[0]] = node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                bound[alias.asname or alias.name] = node.lineno
    return bound


def _dunder_all(tree: ast.Module) -> list[str]:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    return []


def reexports(path: Path) -> list[str]:
    """Names a module imports only to hand them on: listed in ``__all__`` or never used.

    A name bound by a module-level import counts as used when the module reads it
    anywhere (``ast.Name`` loads, also inside functions and annotations).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = _module_level_imports(tree)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    listed = set(_dunder_all(tree))
    return sorted(
        f"{name} (line {line})"
        for name, line in imported.items()
        if name in listed or name not in used
    )


def test_reexport_check_sees_listed_and_unused_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from __future__ import annotations\n"
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "from json import dumps, loads\n"
        "from pathlib import Path\n"
        "if TYPE_CHECKING:\n"
        "    from decimal import Decimal\n"
        "__all__ = ['Path', 'f']\n"
        "def f(x: Decimal) -> str:\n"
        "    return dumps(os.sep) if TYPE_CHECKING else ''\n"
    )
    assert reexports(module) == ["Path (line 5)", "loads (line 4)"]


def test_only_package_inits_reexport():
    """Outside package ``__init__`` files, a module defines every name it exports."""
    offenders = {
        name: found
        for name, path in module_files().items()
        if path.name != "__init__.py" and (found := reexports(path))
    }
    assert not offenders, "modules that re-export names they do not define:\n" + "\n".join(
        f"{name}: {', '.join(found)}" for name, found in sorted(offenders.items())
    )
