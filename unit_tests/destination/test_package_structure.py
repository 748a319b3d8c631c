"""The destination package's shape (issue 14): no import cycle, `delivery/` and `crmone/` know
no stream, no module-level dead code, and the journal's interface declares what senders use."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import destination_crmone
from destination_crmone.journal.base import Journal

PACKAGE = Path(destination_crmone.__file__).parent
NAME = PACKAGE.name


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(module: str, tree: ast.Module, known: set[str]) -> Iterator[str]:
    """The package's modules `module` imports (at any level, TYPE_CHECKING included)."""
    package = module if module in known and _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known and target != module:
                yield target


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {name: set(imported(name, tree, known)) for name, tree in trees.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None (a package's `__init__` importing its own modules is not an
    edge back: Python runs it first)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith(node + "."):  # a package importing its own submodule
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    assert cycle(graph()) is None, " → ".join(cycle(graph()) or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_delivery_and_crmone_know_no_stream() -> None:
    edges = graph()
    for name, targets in edges.items():
        if name.startswith((f"{NAME}.delivery", f"{NAME}.crmone")):
            knows = [t for t in targets if t.startswith((f"{NAME}.contacts", f"{NAME}.commerce"))]
            knows += [t for t in targets if t in (f"{NAME}.streams", f"{NAME}.deletions")]
            assert not knows, f"{name} imports {knows}"


# --- dead code -------------------------------------------------------------------------------

# Module-level names used from outside the package only: entry points and the journal CLI's
# console script (pyproject), the public API the demo/bench/tests call.
USED_FROM_OUTSIDE = {
    "main",  # run.py and journal/cli.py: console scripts
    "used_streams",  # the streams a catalog needs: demo/ and integration_tests/e2e select them
    "__getattr__",  # a module's own hook, called by Python
}


def unused(trees: dict[str, ast.Module]) -> list[str]:
    """Module-level functions and classes no module of `trees` names (besides defining it)."""
    used: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.alias):
                used.add(node.name.rpartition(".")[2])
    return [
        f"{name}.{node.name}"
        for name, tree in trees.items()
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
        and node.name not in used
        and node.name not in USED_FROM_OUTSIDE
    ]


def test_every_module_level_definition_is_used_somewhere_in_the_package() -> None:
    dead = unused(modules())
    assert not dead, f"defined but never used: {dead}"


def test_the_dead_code_check_finds_an_unused_definition() -> None:
    trees = {
        "a": ast.parse("from b import used\ndef lonely(): pass\nused()"),
        "b": ast.parse("def used(): pass\nclass Orphan: pass"),
    }
    assert unused(trees) == ["a.lonely", "b.Orphan"]


def test_the_journal_interface_declares_every_method_the_senders_call() -> None:
    trees = modules()
    senders = [n for n in trees if not n.startswith(f"{NAME}.journal")]
    called = {
        node.func.attr
        for name in senders
        for node in ast.walk(trees[name])
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute | ast.Name)
        and (getattr(node.func.value, "attr", None) or getattr(node.func.value, "id", None))
        == "journal"
    }
    assert called, "no journal call found: the walk is broken"
    missing = sorted(method for method in called if not hasattr(Journal, method))
    assert not missing, f"journal.base.Journal lacks {missing}"
