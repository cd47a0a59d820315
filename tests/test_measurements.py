"""Speed figures say on which CPU they were measured, and none divides figures from two machines."""

import ast
from pathlib import Path

from ktn_utils.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
CPU_KINDS = ("EPYC-512", "EPYC-AVX2", "EPYC")


def test_every_row_of_the_readme_performance_table_names_its_cpu():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Measured performance"):]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| what")]
    assert len(rows) >= 10
    for row in rows:
        cpu = row.split(" | ")[1]
        assert cpu.split(",")[0] in CPU_KINDS, row
    for kind in CPU_KINDS:
        assert f"**{kind}**" in section  # each kind is defined: model and vector unit


def test_the_zoo_benchmark_prints_the_cpu_and_no_time_from_elsewhere():
    source = (ROOT / "benchmarks" / "zoo_speed.py").read_text()
    numbers_at_top = [target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
                      for target in node.targets if any(isinstance(n, ast.Constant) and isinstance(n.value, float)
                                                        for n in ast.walk(node.value))]
    assert numbers_at_top == []  # no seconds measured on another machine to divide by
    assert "get_cpu_capability()" in source and "cpu_model()" in source


def test_the_cpu_model_is_named():
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.exists() else []
    assert cpu_model() == (names[0] if names else cpu_model()) and cpu_model()
