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
