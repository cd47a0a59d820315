"""``ktn demo``: graph, synthetic data, training, evaluation and pictures, on CPU, in a few minutes."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_model.engine.defaults import DemoSettings

DEFAULTS = DemoSettings()


def register(app: typer.Typer) -> None:
    """Add ``ktn demo`` to the `ktn` app."""
    app.command("demo")(demo)


@guarded
def demo(
    out: Path = typer.Option(DEFAULTS.out, "--out", help="Folder for data, checkpoints and pictures."),
    iterations: int = typer.Option(DEFAULTS.iterations, "--iterations", min=1, help="Training iterations (2 images)."),
    train_images: int = typer.Option(DEFAULTS.train_images, "--train-images", min=2, help="Synthetic training images."),
    val_images: int = typer.Option(DEFAULTS.val_images, "--val-images", min=1, help="Synthetic validation images."),
    image_size: int = typer.Option(DEFAULTS.image_size, "--image-size", min=64, help="Longer image side in pixels."),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="Seed for data, initialisation and training."),
    threads: int = typer.Option(DEFAULTS.threads, "--threads", min=1, help="CPU threads for torch."),
) -> None:
    """Train and evaluate a tiny KTN on synthetic DensePose-COCO, then print untrained vs trained GPS/GPSm."""
    from ktn_model.engine.demo import comparison_table, run_demo
    from ktn_model.engine.evaluator import report_console

    console = report_console()
    settings = DemoSettings(out=out, iterations=iterations, train_images=train_images, val_images=val_images,
                            image_size=image_size, seed=seed, threads=threads)  # fmt: skip
    report = run_demo(settings, console)
    console.print(comparison_table(report))
    timings = ", ".join(f"{name} {sec:.0f} s" for name, sec in report.seconds.items())
    console.print(f"time: {timings}; total {sum(report.seconds.values()):.0f} s")
    console.print(f"pictures (IUV, INDS, contours, parts, U, V, boxes): {report.pictures}/")
    console.print(f"checkpoints, metrics.jsonl, TensorBoard logs: {out / 'train'}/")
