"""The package's import graph: no cycles, and imports run one way down the layers.

Every module is parsed (imports inside functions included; ``if TYPE_CHECKING:`` blocks left
out, since they never run) and its ``archcalc`` imports become edges of a graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archcalc"

#: Lowest first: a module may import its own layer or a lower one, never a higher one.
LAYERS = (
    ("archcalc", "archcalc.errors", "archcalc.results", "archcalc.formatting",
     "archcalc.checks", "archcalc.system", "archcalc.growth", "archcalc.display",
     "archcalc.progress", "archcalc.serialize", "archcalc.files"),
    ("archcalc.core",),
    ("archcalc.sizes",),
    ("archcalc.profiling",),
    ("archcalc.timing",),
    ("archcalc.datasets",),
    ("archcalc.recommend",),
    ("archcalc.sweep",),
    ("archcalc.report", "archcalc.schemas"),
    ("archcalc.cli",),
)  # fmt: skip
#: Decision and computation code that must never import presentation.
NO_PRESENTATION = ("archcalc.core", "archcalc.sizes", "archcalc.profiling", "archcalc.timing",
                   "archcalc.recommend")  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The archcalc modules ``path`` imports anywhere (``from pkg import submodule`` too)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "archcalc")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "archcalc":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else str(node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest matching prefix."""
    best = (-1, -1)
    for index, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                best = max(best, (len(name), index))
    if best[1] < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[1]


def test_the_checker_finds_a_planted_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_parser_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from archcalc.report import tables\n"
        "def f():\n    from archcalc.core.trace import profile_built\n"
        "    import archcalc.errors\n"
    )
    modules = {"archcalc.core.trace", "archcalc.errors", "archcalc.report.tables"}
    assert imports_of(source, modules) == {"archcalc.core.trace", "archcalc.errors"}


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    """The package's import graph, parsed once for the tests that read it."""
    return graph()


def test_no_import_cycles(edges: dict[str, set[str]]) -> None:
    assert find_cycle(edges) is None


def test_imports_run_down_the_layers(edges: dict[str, set[str]]) -> None:
    upward = [
        f"{src} (layer {layer_of(src)}) imports {dst} (layer {layer_of(dst)})"
        for src, targets in edges.items()
        for dst in targets
        if layer_of(dst) > layer_of(src)
    ]
    assert upward == []


@pytest.mark.parametrize("package", NO_PRESENTATION)
def test_decision_and_computation_never_import_presentation(
    package: str, edges: dict[str, set[str]]
) -> None:
    bad = [
        f"{src} imports {dst}"
        for src, targets in edges.items()
        if src.startswith(package)
        for dst in targets
        if dst.startswith(("archcalc.report", "archcalc.cli"))
    ]
    assert bad == []
