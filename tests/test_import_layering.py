"""No import cycles between chat_server modules.

A cycle makes module state depend on which module happens to be imported first, and it is
usually a sign that something both sides need belongs in a third, smaller module. The check
reads the source with `ast` (every `import`, including ones inside functions, which is where
cycles hide), so it needs no running server and cannot be fooled by import order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chat_server

PACKAGE_DIR = Path(chat_server.__file__).resolve().parent if chat_server.__file__ else Path("chat_server")


def _module_name(path: Path) -> str:
    parts = ["chat_server", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str], name: str | None = None) -> set[str]:
    """The chat_server modules `path` (module `name`) imports (a `from package import name`
    counts the submodule `package.name` when that is a module, else the package)."""
    name = name or _module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
                elif base in modules:
                    found.add(base)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE_DIR.rglob("*.py") if "static" not in p.relative_to(PACKAGE_DIR).parts]
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
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
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_checker_finds_a_cycle() -> None:
    """The check itself can fail: a two-module and a three-module loop are both reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert find_cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def test_the_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    """A lazy import in a function body still counts (that is how the hours/settings loop hid)."""
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from chat_server.agents import hours\n    from chat_server import config\n")
    modules = {"chat_server.agents", "chat_server.agents.hours", "chat_server.config", "chat_server"}
    assert _imports(source, modules, "chat_server.lazy") == {"chat_server.agents.hours", "chat_server.config"}
    graph = import_graph()
    assert len(graph) > 50
    assert "chat_server.agents.settings" in graph["chat_server.agents.hours"]


def test_no_import_cycles_in_chat_server() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles (move what both sides need into a smaller module): " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles)
