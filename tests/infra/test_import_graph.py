"""infra's modules import each other without a cycle (function-level imports included), so each
idea can be read, imported and changed on its own: the program does not reach the offline
runner, and the runtime tag transform does not reach the tag-list generator."""

from __future__ import annotations

import grimp


def _cycles(package: str) -> list[list[str]]:
    """Every strongly connected group of more than one module (or a module importing itself)."""
    graph = grimp.build_graph(package, cache_dir=None)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges.get(module, []):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in edges.get(module, []):
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def test_infra_has_no_import_cycle():
    assert _cycles("infra") == []


def test_the_program_and_the_tag_transform_do_not_reach_the_offline_runner():
    graph = grimp.build_graph("infra", cache_dir=None)
    for module in ("infra.program", "infra.tags", "infra.config"):
        assert graph.find_shortest_chain(importer=module, imported="infra.offline") is None, module
    assert graph.find_shortest_chain(importer="infra.tags", imported="infra.tag_list") is None


def test_a_cycle_is_found():
    """The check itself, on a package with a cycle through a function-level import."""
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        pkg = Path(d) / "cyclic_pkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "a.py").write_text("from . import b\n")
        (pkg / "b.py").write_text("def f():\n    from . import a\n    return a\n")
        (pkg / "c.py").write_text("from . import a\n")
        sys.path.insert(0, d)
        try:
            assert _cycles("cyclic_pkg") == [["cyclic_pkg.a", "cyclic_pkg.b"]]
        finally:
            sys.path.remove(d)
            for name in [m for m in sys.modules if m.startswith("cyclic_pkg")]:
                del sys.modules[name]
