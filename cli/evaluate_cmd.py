"""``ktn evaluate``: GPS / GPSm AP of result files against DensePose-COCO ground truth, per-part tables, confusion."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded


@guarded
def evaluate(
    gt_json: Path = typer.Argument(..., help="DensePose-COCO ground-truth json."),
    results_json: Path = typer.Argument(..., help="Detections in the official result list form."),
    opts: list[str] | None = typer.Argument(None, metavar="[KEY VALUE]...",
                                            help="Config overrides, e.g. TEST.EVAL_DATA_DIR path/to/eval_data."),
    eval_data: Path | None = typer.Option(
        None,
        "--eval-data",
        help="Directory with the official SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl "
        "(DensePose's DensePoseData/eval_data; see docs/usage.md). Default: TEST.EVAL_DATA_DIR.",
    ),
    config_file: Path | None = typer.Option(None, "--config-file", help="Config whose TEST.EVAL_DATA_DIR to use."),
    out: Path | None = typer.Option(None, "--out", help="Write the metrics here as JSON."),
    compare: list[Path] | None = typer.Option(None, "--compare", help="Another model's results on the same images, "
                                              "evaluated side by side (repeatable)."),
    per_part: bool = typer.Option(False, "--per-part", help="Table XI per body part and patch: AR, U/V MSE, UV "
                                  "geodesic distance on the points of matched detections (docs/densepose_format.md)."),
    part: list[str] | None = typer.Option(None, "--part", help="Only this part, group or patch (repeatable; "
                                          "implies --per-part)."),
    confusion: bool = typer.Option(False, "--confusion", help="Patch confusion of the points (Fig. 9): CSV, heat "
                                   "map and per-patch accuracy in --report-dir."),
    report_dir: Path | None = typer.Option(None, "--report-dir", help="Folder for per_part.csv/json and the "
                                           "confusion files."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Processes scoring images (default: one "
                                       "per CPU, at most one per 100 images); the numbers do not depend on it."),
) -> None:
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
