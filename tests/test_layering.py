"""The one-way data flow, checked on the imports: data -> modeling -> post-processing -> outputs / evaluation."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and
              node.level == 0}
    return names


@pytest.mark.parametrize(("package", "forbidden"), [
    ("ktn_model/modeling", ("ktn_model.evaluation", "ktn_model.engine", "ktn_model.surface")),
    ("ktn_model/data", ("ktn_model.modeling", "ktn_model.evaluation", "ktn_model.engine")),
    ("ktn_model/evaluation", ("ktn_model.modeling", "ktn_model.engine")),
    ("ktn_kg", ("torch", "ktn_model")),
    ("ktn_utils", ("torch", "ktn_model", "ktn_kg")),
])
def test_no_import_against_the_flow(package, forbidden):
    offenders = {f"{p.relative_to(ROOT)}: {m}" for p in (ROOT / package).rglob("*.py")
                 for m in imported_modules(p) if m.startswith(forbidden)}
    assert offenders == set()


def test_ktn_model_meets_ktn_kg_only_through_load_graph():
    uses = set()
    for path in (ROOT / "ktn_model").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ktn_kg"):
                uses.add(f"from {node.module} import ...")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ktn_kg":
                uses.add(f"ktn_kg.{node.attr}")
    assert uses == {"ktn_kg.load_graph"}


def test_no_import_circle_in_ktn_model():
    """Imports between ktn_model modules (lazy ones included, relative ones resolved) form no cycle."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "ktn_model").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):  # a lazy import inside a function counts too
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(p for p in (base, node.module or "") if p)
                targets |= {module} | {f"{module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t.startswith("ktn_model")}
    modules = set(graph)

    def visit(node: str, stack: list[str], done: set[str]) -> list[str] | None:
        if node in stack:
            return stack[stack.index(node):] + [node]
        if node in done:
            return None
        done.add(node)
        for target in graph.get(node, ()):
            if target in modules and target != node and not node.startswith(target + "."):
                cycle = visit(target, [*stack, node], done)
                if cycle:
                    return cycle
        return None

    done: set[str] = set()
    cycles = [c for m in sorted(modules) if (c := visit(m, [], done))]
    assert cycles == []
