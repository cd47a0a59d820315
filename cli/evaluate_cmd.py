"""``ktn evaluate``: GPS / GPSm AP of a result file against DensePose-COCO ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_utils.atomic import atomic_write


def print_table(metrics: dict[str, dict[str, float]]) -> None:
    """One row per metric, one column per evaluation section."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="DensePose evaluation (×100, maxDets 20)")
    table.add_column("metric")
    for section in metrics:
        table.add_column(section, justify="right")
    for name in next(iter(metrics.values())):
        table.add_row(name, *(f"{metrics[s][name]:.2f}" for s in metrics))
    Console().print(table)


def evaluate(
    gt_json: Path = typer.Argument(..., help="DensePose-COCO ground-truth json."),
    results_json: Path = typer.Argument(..., help="Detections in the official result list form."),
    eval_data: Path = typer.Option(
        ...,
        "--eval-data",
        help="Directory with the official SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl "
        "(DensePose's DensePoseData/eval_data; see docs/usage.md).",
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the metrics here as JSON."),
) -> None:
    """GPS and GPSm AP/AR (official protocol), plus keypoint AP when the results carry keypoints.

    The results must use the ground truth's image ids (and file names, when they carry them):
    run `ktn infer --annotations GT_JSON`. A ground truth without DensePose annotations is refused.
    """
    from ktn_model.evaluation import evaluate_densepose  # heavy imports only when the command runs

    if out is not None and out.is_dir():
        raise IsADirectoryError(f"--out {out}: is a directory; give a file name such as {out / 'metrics.json'}")
    metrics = evaluate_densepose(gt_json, results_json, eval_data)
    print_table(metrics)
    if out is not None:
        atomic_write(out, lambda f: f.write(json.dumps(metrics, indent=2).encode() + b"\n"))
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``ktn evaluate`` to the ``ktn`` app."""
    app.command("evaluate")(guarded(evaluate))
