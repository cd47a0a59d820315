"""``ktn evaluate``: GPS / GPSm AP of a result file against DensePose-COCO ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_utils.atomic import atomic_write


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
) -> None:
    """GPS and GPSm AP/AR (official protocol), plus keypoint AP when the results carry keypoints.

    The results must use the ground truth's image ids (and file names, when they carry them):
    run `ktn infer --annotations GT_JSON`. A ground truth without DensePose annotations is refused.
    """
    from ktn_model.evaluation import evaluate_densepose  # imports only when the command runs; never torch
    from ktn_model.evaluation.report import print_metrics

    if out is not None and out.is_dir():
        raise IsADirectoryError(f"--out {out}: is a directory; give a file name such as {out / 'metrics.json'}")
    if eval_data is None:
        from ktn_model.config import setup_cfg

        eval_data = Path(setup_cfg(config_file, opts).TEST.EVAL_DATA_DIR)
    metrics = evaluate_densepose(gt_json, results_json, eval_data)
    print_metrics(metrics, f"{results_json} (×100, maxDets 20)")
    if out is not None:
        atomic_write(out, lambda f: f.write(json.dumps(metrics, indent=2).encode() + b"\n"))
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``ktn evaluate`` to the ``ktn`` app."""
    app.command("evaluate")(evaluate)
