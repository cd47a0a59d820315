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


# What runs on top of what: data -> modeling -> post-processing -> inference (Predictor, the ktn infer writer) ->
# training (engine) -> demo; pictures (vis), surfaces and evaluation take plain arrays and results; ktn_model.api
# (what the CLIs call) sits on top of all of them.
ABOVE_MODELING = ("ktn_model.inference", "ktn_model.engine", "ktn_model.demo", "ktn_model.api", "ktn_model.vis")


@pytest.mark.parametrize(("package", "forbidden"), [
    ("ktn_model/modeling", ("ktn_model.evaluation", "ktn_model.surface", "ktn_model.export", *ABOVE_MODELING)),
    ("ktn_model/data", ("ktn_model.modeling", "ktn_model.evaluation", "ktn_model.export", *ABOVE_MODELING)),
    ("ktn_model/evaluation", ("ktn_model.modeling", "ktn_model.export", *ABOVE_MODELING)),
    ("ktn_model/export", ABOVE_MODELING),
    ("ktn_model/inference", ("ktn_model.engine", "ktn_model.demo", "ktn_model.api")),
    ("ktn_model/engine", ("ktn_model.demo", "ktn_model.api", "ktn_model.vis")),
    ("ktn_model/vis", ("torch", "ktn_model.modeling", "ktn_model.export", "ktn_model.evaluation",
                       *(m for m in ABOVE_MODELING if m != "ktn_model.vis"))),
    ("ktn_model/surface", ("torch", "ktn_model.modeling", "ktn_model.export", *ABOVE_MODELING)),
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


CLI_SHARED = {"ktn_cli.common", "ktn_cli.options", "ktn_cli.model_options", "ktn_cli.sizes"}


def test_the_cli_is_argument_parsing_only():
    """No function in cli/ longer than 25 lines; commands reach the library through public names only (nothing
    private of ktn_model) and never through another command's module."""
    long, private, sideways = [], [], []
    for path in sorted((ROOT / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - first + 1 > 25:
                    long.append(f"{path.name}:{node.name}")
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ktn_"):
                private += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
                if node.module.startswith("ktn_cli.") and node.module not in CLI_SHARED and path.name != "ktn.py":
                    sideways.append(f"{path.name}: {node.module}")
                if node.module == "ktn_cli" and path.name != "ktn.py":
                    sideways += [f"{path.name}: ktn_cli.{a.name}" for a in node.names]
    assert (long, private, sideways) == ([], [], [])
