"""The per-part analysis of one or several models as tables (rich, like the paper's Table XI) and files.

``print_part_tables`` prints one table per metric for the whole body and the part groups (models as rows, parts
as columns) and one table for the patches; ``write_part_files`` writes ``per_part.csv`` (one row per model and
part) and ``per_part.json``; ``write_confusion_files`` writes ``confusion_<model>.csv`` (counts, rows the annotated
patches, columns background and the predicted patches). Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from rich.table import Table

from ktn_model.evaluation.part_analysis import MATCHING_RULE, PartRow
from ktn_model.evaluation.parts import PATCH_NAMES, Part
from ktn_model.evaluation.report import report_console
from ktn_model.evaluation.runs import ModelRun, file_label
from ktn_utils.atomic import atomic_write

# (column, PartRow field, format) of the metrics, as in Table XI
METRICS = (("AR", "ar", "{:.1f}"), ("U MSE", "u_mse", "{:.4f}"), ("V MSE", "v_mse", "{:.4f}"),
           ("UV GD", "uv_gd", "{:.4f}"))  # fmt: skip
CSV_COLUMNS = ("model", "level", "part", "patches", "persons", "points", "correct", "accuracy", "AR", "U_MSE",
               "V_MSE", "UV_GD")  # fmt: skip


def _cell(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else fmt.format(value)


def part_rows(run: ModelRun, parts: list[Part]) -> list[PartRow]:
    return run.analysis.rows(parts)


def print_part_tables(runs: list[ModelRun], parts: list[Part]) -> None:
    """Table XI for the selected body parts and groups, then the selected patches."""
    console = report_console()
    bodies = [p for p in parts if p.level != "patch"]
    patches = [p for p in parts if p.level == "patch"]
    rows = {run.label: part_rows(run, parts) for run in runs}
    if bodies:
        for title, field, fmt in METRICS:
            table = Table(title=f"{title} per part ({'×100, ' if field == 'ar' else ''}points of matched pairs)")
            table.add_column("model")
            for part in bodies:
                table.add_column(part.name, justify="right")
            for label, found in rows.items():
                table.add_row(label, *(_cell(getattr(r, field), fmt) for r in found if r.part.level != "patch"))
            console.print(table)
    if patches:
        table = Table(title="per patch: AR ×100, U MSE, V MSE, UV GD, accuracy")
        table.add_column("patch", no_wrap=True)
        for label in rows:
            for title, _, _ in (*METRICS, ("acc", "accuracy", "")):
                table.add_column(f"{label} {title}" if len(rows) > 1 else title, justify="right")
        patch_rows = {label: [r for r in found if r.part.level == "patch"] for label, found in rows.items()}
        for i, part in enumerate(patches):
            cells = []
            for found in patch_rows.values():
                row = found[i]
                cells += [_cell(getattr(row, field), fmt) for _, field, fmt in METRICS]
                cells.append(_cell(row.accuracy, "{:.3f}"))
            table.add_row(f"{part.patches[0]} {part.name}", *cells)
        console.print(table)
    console.print(f"matching: {MATCHING_RULE}")


def _record(label: str, row: PartRow) -> dict:
    values = (label, row.part.level, row.part.name, " ".join(map(str, row.part.patches)), row.persons, row.points,
              row.correct, row.accuracy, row.ar, row.u_mse, row.v_mse, row.uv_gd)  # fmt: skip
    return {key: None if isinstance(v, float) and math.isnan(v) else v
            for key, v in zip(CSV_COLUMNS, values, strict=True)}  # fmt: skip


def write_part_files(runs: list[ModelRun], parts: list[Part], directory: Path) -> list[Path]:
    """``per_part.csv`` and ``per_part.json`` in ``directory``."""
    import pandas as pd  # only when files are written

    records = [_record(run.label, row) for run in runs for row in part_rows(run, parts)]
    frame = pd.DataFrame.from_records(records, columns=list(CSV_COLUMNS))
    models = {run.label: {"results": str(run.path), "metrics": run.metrics,
                          "parts": [r for r in records if r["model"] == run.label]} for run in runs}  # fmt: skip
    csv_text = frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    json_text = json.dumps({"matching": MATCHING_RULE, "models": models}, indent=2) + "\n"
    return [_write_text(directory / "per_part.csv", csv_text), _write_text(directory / "per_part.json", json_text)]


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_confusion_files(runs: list[ModelRun], directory: Path) -> list[Path]:
    """``confusion_<model>.csv`` per model: point counts, annotated patch × (background, predicted patch)."""
    import pandas as pd

    written = []
    for run in runs:
        frame = pd.DataFrame(run.analysis.confusion, index=list(PATCH_NAMES), columns=["background", *PATCH_NAMES])
        frame.index.name = "annotated \\ predicted"
        buffer = io.StringIO()
        frame.to_csv(buffer, lineterminator="\n")
        written.append(_write_text(directory / f"confusion_{file_label(run.label)}.csv", buffer.getvalue()))
    return written
