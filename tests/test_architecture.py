"""The shape of src/jarvis_mcp, read from the source: no import cycle, adapters reached only through the
composition root, no oversized file, handlers that never open the runtime themselves."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "jarvis_mcp"
MAX_LINES = 400
# The composition root, and the CLI whose `migrate` command runs the Postgres migrations directly.
ADAPTER_IMPORTERS = {"jarvis_mcp.bootstrap", "jarvis_mcp.cli"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (a function's lazy import is still an edge), except those
    only the type checker runs."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set[str]:
    """The modules of jarvis_mcp that `module` imports: `from pkg import sub` counts as importing pkg.sub
    when sub is a module, else as importing pkg."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _resolve(module, node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        out.update(t for t in targets if t in MODULES and t != module)
    return out


GRAPH: dict[str, set[str]] = {m: imports_of(m) for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as the list of modules along it (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_is_read_from_every_module() -> None:
    assert "jarvis_mcp.bootstrap" in GRAPH and "jarvis_mcp.server" in GRAPH
    assert "jarvis_mcp.bootstrap" in GRAPH["jarvis_mcp.server"]
    assert any(m.startswith("jarvis_mcp.adapters.") for m in GRAPH["jarvis_mcp.bootstrap"])  # lazy imports count


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_src() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_composition_root_imports_adapters() -> None:
    offenders = {
        module: sorted(t for t in targets if t.startswith("jarvis_mcp.adapters"))
        for module, targets in GRAPH.items()
        if not module.startswith("jarvis_mcp.adapters") and module not in ADAPTER_IMPORTERS
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"adapters imported outside bootstrap/cli: {offenders}"


def test_adapters_import_no_toolset_service() -> None:
    offenders = {
        module: sorted(t for t in targets if t.rsplit(".", 1)[-1] == "service")
        for module, targets in GRAPH.items()
        if module.startswith("jarvis_mcp.adapters")
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"adapters importing a service: {offenders}"


def test_no_file_in_src_is_over_400_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_handlers_do_not_import_bootstrap() -> None:
    assert "jarvis_mcp.bootstrap" not in GRAPH["jarvis_mcp.handlers"]


def test_only_the_wiring_sees_the_whole_store() -> None:
    """Services are typed with the narrow ports they use; the composite Store is the wiring's."""
    users = {m for m, targets in GRAPH.items() if "jarvis_mcp.store" in targets}
    assert users <= {"jarvis_mcp.bootstrap", "jarvis_mcp.runtime", "jarvis_mcp.scope"}, users
