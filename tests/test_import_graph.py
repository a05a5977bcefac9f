"""The package's modules import one another without a cycle.

The import graph is read from the source with ``ast``: an edge for every import of a
module of the package made at module level (``if TYPE_CHECKING:`` blocks excluded, as
they never run). A cycle there is what makes a module's import order matter, and what
imports inside functions were once written to dodge; so the same graph, with the
imports found inside functions added, must be acyclic too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import autobot_apm

PACKAGE_DIR = Path(autobot_apm.__file__).parent

# Imports inside functions that would close a cycle, left for their owners to cut
# (issue 16: the tracker and dispatch modules are being reshaped separately).
KNOWN_DEFERRED: set[tuple[str, str]] = set()

Graph = dict[str, set[str]]


def module_files(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package) for every module under package_dir."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: Mapping[str, object]
) -> Iterator[str]:
    """The modules of the package an import statement loads."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in modules)
        return
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - node.level + 1]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target not in modules:
        return
    yield target
    yield from (f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules)


def _with_new_ancestors(importer: str, target: str) -> Iterator[str]:
    """``target`` and the packages above it that importing it runs first, except those
    the importer sits in (they are being imported already)."""
    parts = target.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if not (importer == name or importer.startswith(name + ".")):
            yield name


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: not in functions or classes."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            yield from _module_level_imports(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            handlers = [stmt for handler in node.handlers for stmt in handler.body]
            yield from _module_level_imports(node.body + handlers + node.orelse + node.finalbody)


def _function_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def import_graph(package_dir: Path, *, in_functions: bool = False) -> Graph:
    """Module -> the modules of the package its import runs (with ``in_functions``, also
    those imported inside its functions)."""
    modules = module_files(package_dir)
    graph: Graph = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = list(_module_level_imports(tree.body))
        if in_functions:
            nodes += _function_imports(tree)
        for node in nodes:
            for target in _targets(node, name, is_package, modules):
                graph[name].update(_with_new_ancestors(name, target))
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative), plus any module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return found


class TestTheHelpersCanFail:
    """The checks below are only worth something if a cycle is seen when there is one."""

    def test_a_cyclic_pair_is_found(self):
        assert [["a", "b"]] == cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}})

    def test_a_self_import_is_found(self):
        assert [["a"]] == cycles({"a": {"a"}})

    def test_a_chain_is_not_a_cycle(self):
        assert [] == cycles({"a": {"b"}, "b": {"c"}, "c": set()})

    def test_a_cyclic_package_on_disk_is_found(self, tmp_path: Path):
        """Relative imports, ``from . import`` and TYPE_CHECKING blocks read as Python
        runs them; a cycle hidden in a function shows only with in_functions."""
        package = tmp_path / "pkg"
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "sub" / "__init__.py").write_text("")
        (package / "a.py").write_text("from .sub import b\n")
        (package / "sub" / "b.py").write_text(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\n"
            "def f():\n    from .. import c\n"
        )
        (package / "c.py").write_text("from . import a\n")
        assert [] == cycles(import_graph(package))
        assert [["pkg.a", "pkg.c", "pkg.sub.b"]] == cycles(import_graph(package, in_functions=True))


def test_module_level_imports_have_no_cycle():
    assert [] == cycles(import_graph(PACKAGE_DIR))


def test_no_import_inside_a_function_dodges_a_cycle():
    """Every import written inside a function could move to module level without making
    a cycle: deferred imports are for optional or costly dependencies only."""
    graph = import_graph(PACKAGE_DIR, in_functions=True)
    for importer, imported in KNOWN_DEFERRED:
        graph[importer].discard(imported)
    assert [] == cycles(graph)


def test_every_module_imports_in_a_fresh_interpreter():
    """Each module, imported by name after ``import autobot_apm`` alone, loads."""
    names = sorted(module_files(PACKAGE_DIR))
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run(
        [sys.executable, "-c", script, *names],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr[-2000:]
