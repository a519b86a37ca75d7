"""The import structure of monitor/: imports flow one way (no module imports, however indirectly,
a module that imports it). Read from the code with `ast`, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The monitor modules `name` imports; `from pkg import sub` counts as importing pkg.sub."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            found.update(submodules or {base})
    return {target for target in found if target in known and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_is_read():
    graph = import_graph()
    assert "monitor.config" in graph["monitor.pipeline"]
    assert "monitor.sources.base" in graph["monitor.sources.rss"]


def test_no_import_cycles_among_monitor_modules():
    assert cycles(import_graph()) == []


def test_the_lower_rooms_never_import_the_higher_ones():
    graph = import_graph()

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph[todo.pop()]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    # The pure matcher knows nothing of HTTP, SQLite or configuration; sources parse but never
    # store; channels know nothing of polling; nothing below the verbs imports the CLI.
    for low, forbidden in [
        ("monitor.topics", {"monitor.fetch", "monitor.store", "monitor.config"}),
        ("monitor.sources", {"monitor.store", "monitor.config", "monitor.pipeline"}),
        ("monitor.notify", {"monitor.pipeline", "monitor.store", "monitor.sources"}),
        ("monitor.fetch", {"monitor.config", "monitor.sources", "monitor.guard"}),
        ("monitor.config", {"monitor.pipeline", "monitor.service", "monitor.cli"}),
        ("monitor.delivery", {"monitor.pipeline", "monitor.service"}),
    ]:
        assert not reaches(low) & forbidden, (low, reaches(low) & forbidden)
    for name in graph:
        if not name.startswith(("monitor.cli", "monitor.__main__")):
            assert "monitor.cli" not in graph[name], name
