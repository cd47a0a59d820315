"""What ``ktn evaluate`` does, callable from Python: official metrics of one or several result files, and on
request the per-part tables (``--per-part``, ``--part``) and the patch confusion (``--confusion``)."""

from __future__ import annotations

import json
from pathlib import Path

from ktn_model.evaluation.eval_data import EvalData
from ktn_model.evaluation.parts import Part, select
from ktn_model.evaluation.report import print_metrics
from ktn_model.evaluation.runs import ModelRun, evaluate_runs
from ktn_utils.atomic import atomic_write, check_output_file, check_output_folder


def evaluate_files(gt: Path, results: list[Path], eval_data: Path | EvalData, out: Path | None = None,
                   per_part: bool = False, parts: list[str] | None = None, confusion: bool = False,
                   report_dir: Path | None = None, workers: int | None = None) -> list[Path]:  # fmt: skip
    """Score ``results`` against ``gt``, print the tables and write the requested files; return the files written.

    ``out``: the metrics as JSON (one model: its sections; several: one entry per model label). ``per_part`` or
    ``parts`` (names, see ``parts.select``): the per-part tables, and with ``report_dir`` ``per_part.csv/json``.
    ``confusion``: ``confusion_<model>.csv``, ``confusion.png`` and ``patch_accuracy.png`` in ``report_dir``.
    Bad input (an unknown part, a file for another ground truth, files for different images) is a ValueError.
    """
    selected: list[Part] | None = select(parts) if per_part or parts else None
    if confusion and report_dir is None:
        raise ValueError("--confusion writes its tables and pictures into a folder: give --report-dir DIR")
    if out is not None:  # an unusable path fails now, not after the evaluation
        if out.is_dir():
            raise IsADirectoryError(f"--out {out}: is a directory; give a file name such as {out / 'metrics.json'}")
        check_output_file(out)
    if report_dir is not None:
        if report_dir.exists() and not report_dir.is_dir():
            raise NotADirectoryError(f"--report-dir {report_dir}: is a file, not a folder")
        check_output_folder(report_dir)
    runs = evaluate_runs(gt, results, eval_data, analysis=selected is not None or confusion, workers=workers)
    written = _report(runs, selected, confusion, report_dir)
    if out is not None:
        metrics = runs[0].metrics if len(runs) == 1 else {run.label: run.metrics for run in runs}
        written.append(atomic_write(out, lambda f: f.write(json.dumps(metrics, indent=2).encode() + b"\n")))
    return written


def _report(runs: list[ModelRun], selected: list[Part] | None, confusion: bool, report_dir: Path | None) -> list[Path]:
    if len(runs) == 1:
        print_metrics(runs[0].metrics, f"{runs[0].path} (×100, maxDets 20)")
    else:
        sections = {f"{run.label}/{name}": values for run in runs for name, values in run.metrics.items()}
        print_metrics(sections, "×100, maxDets 20")
    written: list[Path] = []
    if selected is None and not confusion:
        return written
    from ktn_model.evaluation import part_report  # rich tables; pandas only for the files

    if selected is not None:
        part_report.print_part_tables(runs, selected)
        if report_dir is not None:
            written += part_report.write_part_files(runs, selected, report_dir)
    if confusion:
        from ktn_model.evaluation.confusion_plot import draw_accuracy, draw_confusion

        written += part_report.write_confusion_files(runs, report_dir)
        labels, matrices = [run.label for run in runs], [run.analysis.confusion for run in runs]
        written.append(draw_confusion(labels, matrices, report_dir / "confusion.png"))
        written.append(draw_accuracy(labels, matrices, report_dir / "patch_accuracy.png"))
    return written
