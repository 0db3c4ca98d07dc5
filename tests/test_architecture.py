"""The shape of the house: the imports of src/smallfit run one way, and files stay small.

Every import counts, a lazy one inside a function too: a cycle that only import order
keeps working breaks the day someone reorders a file. Importing `a.b.c` also runs the
package `a.b`'s `__init__`, so that edge counts as well, except where the importer lies
inside `a.b` itself (its own package is already being imported) and for the root package,
which every module has.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "smallfit"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def imported(importer: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The smallfit modules that importing `importer` (or calling its functions) imports."""
    own_packages = {importer.rsplit(".", i)[0] for i in range(importer.count(".") + 1)}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a import b`: b is a module of a, or a name a defines
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.C` style: the longest module
                name = name.rpartition(".")[0]
            if not name:
                continue  # not ours
            found.add(name)
            while (name := name.rpartition(".")[0]) and name not in own_packages:
                found.add(name)  # a module's parent packages run first
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) - {name} for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the stack, "done" after

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt, stack)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_have_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_names_from_the_package_init():
    """`from smallfit import X` must name a module: the package __init__ imports the
    public API, so taking a name from it ties a low module to the top of the house."""
    known = modules()
    offenders = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == ROOT and node.level == 0:
                offenders += [
                    f"{name}: {a.name}" for a in node.names if f"{ROOT}.{a.name}" not in known
                ]
    assert offenders == []


def test_no_source_file_is_over_the_limit():
    long = {
        str(path.relative_to(SRC)): n
        for path in (SRC / ROOT).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
