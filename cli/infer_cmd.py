"""``ktn infer``: DensePose on images, folders, globs and videos; IUV/INDS PNGs, pictures, results.json."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded

DEFAULT_VIS = "dp_contour,dp_segm,dp_u,dp_v,bbox"


def register(app: typer.Typer) -> None:
    """Add ``ktn infer`` to the `ktn` app."""
    app.command("infer")(infer)


@guarded
def infer(
    inputs: list[str] = typer.Argument(..., help="Image files, folders, glob patterns or video files."),
    weights: Path = typer.Option(..., "--weights", help="Checkpoint (model_final.pth or any model_*.pth)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="Config the model was trained with (default: config.yaml beside the weights)."
    ),
    min_score: float = typer.Option(0.8, "--min-score", help="Keep detections with at least this score."),
    vis: str = typer.Option(DEFAULT_VIS, "--vis", help="Pictures: dp_contour,dp_segm,dp_u,dp_v,bbox,keypoints."),
    annotations: Path | None = typer.Option(
        None, "--annotations", help="COCO json whose image ids results.json should use (matched by file name)."
    ),
) -> None:
    """Run a trained model on images or videos and write IUV/INDS PNGs, pictures and results.json."""
    from ktn_model.engine.inference import InferenceRun, Predictor, collect_inputs, image_ids_from, load_model, run
    from ktn_model.engine.visualize import parse_vis

    vis_names = parse_vis(vis)
    paths = collect_inputs(inputs)
    model = load_model(weights, config_file)
    job = InferenceRun(Predictor(model), out, min_score, vis_names, image_ids_from(annotations))
    results = run(job, paths)
    typer.echo(f"{len(paths)} input(s), {len(job.results)} detection(s) with score >= {min_score}: {out}/")
    typer.echo(f"results: {results}")
