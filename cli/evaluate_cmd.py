"""``ktn evaluate``: GPS / GPSm AP of result files against DensePose-COCO ground truth, per-part tables, confusion."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_cli.options import machine_cpus, ranged

GT_JSON = typer.Argument(..., help="DensePose-COCO ground-truth json.")
RESULTS_JSON = typer.Argument(..., help="Detections in the official result list form.")
OPTS = typer.Argument(None, metavar="[KEY VALUE]...", help="Config overrides, e.g. TEST.EVAL_DATA_DIR "
                      "path/to/eval_data.")
EVAL_DATA = typer.Option(None, "--eval-data", help="Directory with the official SMPL_subdiv.mat, "
                         "SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl (DensePose's DensePoseData/eval_data; see "
                         "docs/usage.md). Default: TEST.EVAL_DATA_DIR.")
CONFIG_FILE = typer.Option(None, "--config-file", help="Config whose TEST.EVAL_DATA_DIR to use.")
OUT = typer.Option(None, "--out", help="Write the metrics here as JSON.")
COMPARE = typer.Option(None, "--compare", help="Another model's results on the same images, evaluated side by side "
                       "(repeatable).")
PER_PART = typer.Option(False, "--per-part", help="Table XI per body part and patch: AR, U/V MSE, UV geodesic distance "
                        "on the points of matched detections (docs/densepose_format.md).")
PART = typer.Option(None, "--part", help="Only this part, group or patch (repeatable; implies --per-part).")
CONFUSION = typer.Option(False, "--confusion", help="Patch confusion of the points (Fig. 9): CSV, heat map and "
                         "per-patch accuracy in --report-dir.")
REPORT_DIR = typer.Option(None, "--report-dir", help="Folder for per_part.csv/json and the confusion files.")
WORKERS = ranged(None, "--workers", low=1, high=machine_cpus, help="Processes scoring images (default: one per CPU, "
                 "at most one per 100 images); the numbers do not depend on it.")


@guarded
def evaluate(gt_json: Path = GT_JSON, results_json: Path = RESULTS_JSON, opts: list[str] | None = OPTS,
             eval_data: Path | None = EVAL_DATA, config_file: Path | None = CONFIG_FILE, out: Path | None = OUT,
             compare: list[Path] | None = COMPARE, per_part: bool = PER_PART, part: list[str] | None = PART,
             confusion: bool = CONFUSION, report_dir: Path | None = REPORT_DIR, workers: int | None = WORKERS) -> None:
    """GPS and GPSm AP/AR (official protocol), plus keypoint AP when the results carry keypoints.

    The results must use the ground truth's image ids (and file names, when they carry them):
    run `ktn infer --annotations GT_JSON`. A ground truth without DensePose annotations is refused.
    """
    from ktn_model.evaluation.command import evaluate_files  # imported when the command runs; never torch

    if eval_data is None:
        from ktn_model.config import setup_cfg

        eval_data = Path(setup_cfg(config_file, opts).TEST.EVAL_DATA_DIR)
    for path in evaluate_files(gt_json, [results_json, *(compare or [])], eval_data, out, per_part, part, confusion,
                               report_dir, workers):  # fmt: skip
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``ktn evaluate`` to the ``ktn`` app."""
    app.command("evaluate")(evaluate)
