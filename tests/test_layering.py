"""The layering of docs/architecture.md, enforced: imports point down only, and no import cycles.

    rewards  <-  rlsys.core  <-  actors  <-  pretrain_sft  <-  rlsys (orchestration)  <-  rlsys.cli
    rlsys.toy: demo and fixture code, imported by no project module except the CLI (tiny-model).

Every `import` and `from ... import` in the four packages counts, including imports inside
functions (lazy imports are still dependencies) and under `if TYPE_CHECKING:` (for the direction of
imports; a type-only import cannot close a cycle at run time, so the cycle check leaves it out).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rewards", "rlsys", "actors", "pretrain_sft")
LAYERS = {"rewards": 0, "rlsys.core": 1, "actors": 2, "pretrain_sft": 3, "rlsys": 4, "rlsys.cli": 5, "rlsys.toy": 6}
TOY_IMPORTERS = ("rlsys.cli",)
"""The only project modules allowed to import rlsys.toy (the `tiny-model` command)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def layer_of(module: str) -> tuple[str, int]:
    """The most specific layer prefix of `module` and its rank."""
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return best, LAYERS[best]


def type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def imports_of(path: Path, modules: dict[str, Path], *, runtime_only: bool = False) -> set[str]:
    """Project modules that the file at `path` imports (resolved to module files)."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = type_checking_nodes(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph(*, runtime_only: bool = False) -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules, runtime_only=runtime_only) for name, path in modules.items()}


def test_imports_point_down_only():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        src_layer, src_rank = layer_of(module)
        for target in sorted(targets):
            dst_layer, dst_rank = layer_of(target)
            if dst_layer == "rlsys.toy" and src_layer != "rlsys.toy":
                if not module.startswith(TOY_IMPORTERS):
                    wrong.append(f"{module} imports demo code {target}")
            elif dst_rank > src_rank:
                wrong.append(f"{module} ({src_layer}) imports {target} ({dst_layer}), a higher layer")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components with more than one module are import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    graph = import_graph(runtime_only=True)
    # a package's __init__ re-exporting its submodules is not a cycle worth breaking
    for module, targets in graph.items():
        targets -= {t for t in targets if module.startswith(t + ".")}
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_catches_a_violation(tmp_path):
    """The walk resolves lazy and relative imports (so the tests above can fail)."""
    modules = {"actors.x": tmp_path / "x.py", "rlsys.driver": tmp_path / "d.py", "actors": tmp_path / "i.py"}
    source = "def f():\n    from rlsys.driver import train\n    from . import x\n"
    path = REPO / "actors" / "_probe_for_layering_test.py"
    try:
        path.write_text(source)
        found = imports_of(path, {**modules, "actors._probe_for_layering_test": path})
    finally:
        path.unlink()
    assert found == {"rlsys.driver", "actors.x"}
    assert layer_of("rlsys.driver")[1] > layer_of("actors.x")[1]
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
