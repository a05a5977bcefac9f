"""The tracking engine's modules import each other without a cycle.

Every import counts, those under ``if TYPE_CHECKING:`` and those inside functions
included: a cycle dodged by hiding one of its imports is still a cycle.
"""

import ast
from pathlib import Path

import autobot_apm._tracking

PACKAGE = Path(autobot_apm._tracking.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


def sibling_imports(module: str) -> set[str]:
    """The modules of ``_tracking`` that ``module`` imports, anywhere in its source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:  # from .handle import Operation
                found.add(node.module.split(".")[0])
            else:  # from . import runtime
                found.update(alias.name for alias in node.names)
    return found & set(MODULES)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    finished: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in finished:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        finished.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_engine_modules_are_found():
    assert {"tracker", "dispatch", "handle", "lifecycle"} <= set(MODULES)
    assert "handle" in sibling_imports("lifecycle")  # the parser sees relative imports


def test_no_import_cycle_between_the_engine_modules():
    graph = {module: sibling_imports(module) for module in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert ["a", "b", "a"] == find_cycle({"a": {"b"}, "b": {"a"}, "c": set()})
