"""The server's boundaries: no import cycle among its modules, and no torch in the web process."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> set[str]:
    """Every module named by an import that runs (at the top or inside a function; not TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` in package a.b names a.b.x
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def server_import_graph() -> dict[str, set[str]]:
    """server module -> the server modules it imports (a package's `__init__` stands for the package)."""
    files = {_module_name(path): path for path in (ROOT / "server").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        named = _imports(ast.parse(path.read_text(), filename=str(path)), package)
        graph[name] = {module for module in named if module in files and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_cycles_finds_a_loop_and_only_loops() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_server_modules_import_each_other_without_cycles() -> None:
    assert cycles(server_import_graph()) == []


def test_pages_do_not_import_api_routers() -> None:
    graph = server_import_graph()
    bent = sorted(
        (page, target)
        for page, targets in graph.items()
        if page.startswith("server.pages")
        for target in targets
        if target.startswith("server.api.v1")
    )
    assert bent == []


def test_server_never_imports_the_worker() -> None:
    graph = {}
    for path in (ROOT / "server").rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        named = _imports(ast.parse(path.read_text()), package)
        if any(module == "worker" or module.startswith("worker.") for module in named):
            graph[name] = sorted(m for m in named if m.startswith("worker"))
    assert graph == {}


IMPORT_ALL = """
import importlib, json, pkgutil, sys
import server
names = [m.name for m in pkgutil.walk_packages(server.__path__, "server.")]
for name in names:
    importlib.import_module(name)
torch = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
print(json.dumps({"modules": len(names), "torch": torch}))
"""


def test_every_server_module_imports_without_torch() -> None:
    """The web process stays light: importing every server module (in a fresh interpreter) loads no torch."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], cwd=ROOT, capture_output=True, text=True, timeout=240, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["modules"] > 50
    assert result["torch"] == []
