"""``ktn demo``: graph, synthetic data, training, evaluation and pictures, on CPU, in a few minutes."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_cli.options import machine_cpus, ranged
from ktn_cli.sizes import IMAGE_SIZE_HELP, MIN_IMAGE_SIZE, demo_image_limit
from ktn_model.demo.settings import DemoSettings

DEFAULTS = DemoSettings()
OUT = typer.Option(DEFAULTS.out, "--out", help="Folder for data, checkpoints and pictures.")
ITERATIONS = ranged(DEFAULTS.iterations, "--iterations", low=1, help="Training iterations (2 images each), >= 1.")
TRAIN_IMAGES = ranged(DEFAULTS.train_images, "--train-images", low=2, help="Synthetic training images, >= 2.")
VAL_IMAGES = ranged(DEFAULTS.val_images, "--val-images", low=1, help="Synthetic validation images, >= 1.")
IMAGE_SIZE = ranged(DEFAULTS.image_size, "--image-size", low=MIN_IMAGE_SIZE, high=demo_image_limit,
                    help=IMAGE_SIZE_HELP)
SEED = ranged(DEFAULTS.seed, "--seed", low=0, help="Seed for data, initialisation and training, >= 0.")
THREADS = ranged(DEFAULTS.threads, "--threads", low=1, high=machine_cpus, help="CPU threads for torch, at most the "
                 "usable CPUs (1, the default, keeps a shared machine responsive and the numbers reproducible).")


def register(app: typer.Typer) -> None:
    """Add ``ktn demo`` to the `ktn` app."""
    app.command("demo")(demo)


@guarded
def demo(out: Path = OUT, iterations: int = ITERATIONS, train_images: int = TRAIN_IMAGES, val_images: int = VAL_IMAGES,
         image_size: int = IMAGE_SIZE, seed: int = SEED, threads: int = THREADS) -> None:  # fmt: skip
    """Train and evaluate a tiny KTN on synthetic DensePose-COCO, then print untrained vs trained GPS/GPSm."""
    from ktn_model.demo.workflow import comparison_table, run_demo
    from ktn_model.evaluation.report import report_console
    from ktn_utils.atomic import check_output_folder

    check_output_folder(out)
    console = report_console()
    report = run_demo(DemoSettings(out, train_images, val_images, image_size, iterations, seed=seed, threads=threads),
                      console)  # fmt: skip
    console.print(comparison_table(report))
    timings = ", ".join(f"{name} {sec:.0f} s" for name, sec in report.seconds.items())
    console.print(f"time: {timings}; total {sum(report.seconds.values()):.0f} s")
    console.print(f"pictures (IUV, INDS, contours, parts, U, V, boxes): {report.pictures}/")
    console.print(f"checkpoints, metrics.jsonl, TensorBoard logs: {out / 'train'}/")
