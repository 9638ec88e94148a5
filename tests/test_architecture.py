"""The layering of the code, read from the source: the folders (and the modules at a package's root) import each
other without cycles, the engine imports nothing from qnlp, and no module imports another module's private name.
A lazy import inside a function counts; an import only for type checking does not (it never runs)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tnq", "qnlp")


def _unit(module: str) -> str:
    """The unit a module belongs to: its folder (``tnq.backends``), or itself when it sits at a package's root
    (``tnq.simulate``), so the root modules are units of their own."""
    return ".".join(module.split(".")[:2])


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node outside ``if TYPE_CHECKING:`` blocks."""
    out: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _imports() -> dict[str, list[tuple[str, str, ast.AST]]]:
    """module -> [(imported module, imported name or '', node)] for the runtime imports of tnq and qnlp."""
    found: dict[str, list[tuple[str, str, ast.AST]]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            is_package = rel.name == "__init__"
            module = ".".join(rel.parts[:-1] if is_package else rel.parts)
            rows = []
            for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    if node.level:
                        base = base[:len(base) - node.level + 1]
                        target = ".".join(base + ([node.module] if node.module else []))
                    else:
                        target = node.module or ""
                    for alias in node.names:
                        rows.append((target, alias.name, node))
                elif isinstance(node, ast.Import):
                    rows.extend((alias.name, "", node) for alias in node.names)
            found[module] = rows
    return found


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, rows in _imports().items():
        if module in PACKAGES:
            continue  # a package's __init__ re-exports its public names: it is the top, not a layer
        source = _unit(module)
        for target, name, _ in rows:
            if target.split(".")[0] not in PACKAGES:
                continue
            full = f"{target}.{name}" if name and _is_module(f"{target}.{name}") else target
            unit = _unit(full)
            if unit != source and unit not in PACKAGES:
                graph[source].add(unit)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            strong(v)
    return components


def test_the_finder_sees_a_planted_cycle():
    """The cycle finder itself: a planted two-unit loop is found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_folders_and_root_modules_import_each_other_without_cycles():
    graph = _unit_graph()
    assert "tnq.backends" in graph and "tnq.tensornet" in graph["tnq.backends"]  # the reader sees real imports
    cycles = _cycles(graph)
    detail = {tuple(c): {u: sorted(graph[u] & set(c)) for u in c} for c in cycles}
    assert not cycles, f"import cycles between folders / root modules: {detail}"


def test_the_engine_imports_nothing_from_qnlp():
    offenders = [(module, target) for module, rows in _imports().items() if module.split(".")[0] == "tnq"
                 for target, _, _ in rows if target.split(".")[0] == "qnlp"]
    assert not offenders


def test_no_module_imports_another_modules_private_names():
    offenders = [(module, target, name) for module, rows in _imports().items() for target, name, _ in rows
                 if name.startswith("_") and not name.startswith("__") and target.split(".")[0] in PACKAGES]
    assert not offenders, offenders
