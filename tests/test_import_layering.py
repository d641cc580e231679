"""No import cycles between chat_server modules, and no test module imported by another.

A cycle makes module state depend on which module happens to be imported first, and it is
usually a sign that something both sides need belongs in a third, smaller module. The check
reads the source with `ast` (every `import`, including ones inside functions, which is where
cycles hide), so it needs no running server and cannot be fooled by import order.

Tests share helpers only through `tests/support/` (fixtures through `pytest_plugins` in
tests/conftest.py): a test module that imports another runs that module's import-time code and
ties two suites together, so changing one test breaks another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chat_server

TESTS_DIR = Path(__file__).resolve().parent
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


def _is_test_module(module: str) -> bool:
    """`tests.test_x` (or `tests.conftest`, which pytest loads as a plugin, not as a library)."""
    parts = module.split(".")
    return len(parts) >= 2 and parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def imported_test_modules(path: Path, package: str | None = None) -> list[str]:
    """The test modules (and conftest) that the file at `path` imports, anywhere in it; `package` is
    its package (by default from its place under tests/), for relative imports."""
    anchor_parts = package.split(".") if package else ["tests", *path.relative_to(TESTS_DIR).parent.parts]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = anchor_parts[: len(anchor_parts) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if _is_test_module(base):
                found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names if _is_test_module(f"{base}.{alias.name}")]
    return sorted(set(found))


def test_the_checker_finds_a_test_module_import(tmp_path: Path) -> None:
    """Every spelling is caught, inside functions too; support modules are allowed."""
    source = tmp_path / "probe.py"
    source.write_text("import tests.test_a\nfrom tests.test_b import x\nfrom tests import test_c, support\n"
                      "def f():\n    from .. import conftest\n    from ..test_d import y\n"
                      "from tests.support.clients import ResidentClient\n")
    assert imported_test_modules(source, "tests.support") == [
        "tests.conftest", "tests.test_a", "tests.test_b", "tests.test_c", "tests.test_d"]


def test_no_test_module_imports_another() -> None:
    offenders = {str(path.relative_to(TESTS_DIR)): imported for path in sorted(TESTS_DIR.rglob("*.py"))
                 if (imported := imported_test_modules(path))}
    assert offenders == {}, "import shared helpers from tests/support/, not from test modules: " + "; ".join(
        f"{path} imports {', '.join(mods)}" for path, mods in offenders.items())
