"""``ktn infer``: DensePose on images, folders, globs and videos; IUV/INDS PNGs, pictures, results.json."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from ktn_cli.common import EXIT_RUN_FAILED, guarded
from ktn_cli.model_options import CONFIG_FILE, MIN_SCORE, WEIGHTS
from ktn_cli.options import ranged, split_overrides, threads_option
from ktn_model.inference.defaults import DEFAULT_VIS

CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*")  # SEED, MODEL.DEVICE, ...

INPUTS = typer.Argument(..., help="Image files, folders, glob patterns or video files, then optional config "
                        "overrides as KEY VALUE pairs (e.g. MODEL.DEVICE cpu INPUT.MIN_SIZE_TEST 600).")
OUT = typer.Option(..., "--out", help="Output folder.")
VIS = typer.Option(",".join(DEFAULT_VIS), "--vis", help="Comma-separated pictures to write: dp_contour, dp_segm, "
                   "dp_u, dp_v, dp_iuv_texture, bbox, keypoints.")
ANNOTATIONS = typer.Option(None, "--annotations", help="COCO json whose image ids results.json uses (matched by "
                           "file name); every input image must be in it.")
BATCH_SIZE = ranged(1, "--batch-size", low=1, help="Images per network call (at least 1). Above 1 the PyTorch "
                    "model pads a batch to its largest image, which can change detections slightly.")
PRECISION = typer.Option(None, "--precision", help="Arithmetic of the DensePose branch (TEST.DENSEPOSE_PRECISION): "
                         "float32 (default), or bfloat16 / float16 through autocast: faster on CPUs with AVX-512 BF16 "
                         "and on GPUs; the detections stay the float32 ones, the DensePose maps differ slightly "
                         "(docs/export.md). PyTorch checkpoints only.")
TEXTURE_ATLAS = typer.Option(None, "--texture-atlas", help="Texture atlas (ktn texture extract) that dp_iuv_texture "
                             "paints; default: a reference atlas of one colour and a UV grid per patch.")

THREADS = threads_option()

def register(app: typer.Typer) -> None:
    """Add ``ktn infer`` to the `ktn` app (negative override values such as ``INPUT.MIN_SIZE_TEST -5`` pass)."""
    app.command("infer", context_settings={"ignore_unknown_options": True})(infer)


@guarded
def infer(inputs: list[str] = INPUTS, weights: Path = WEIGHTS, out: Path = OUT, config_file: Path | None = CONFIG_FILE,
          min_score: float = MIN_SCORE, vis: str = VIS, annotations: Path | None = ANNOTATIONS,
          batch_size: int = BATCH_SIZE, precision: str | None = PRECISION, texture_atlas: Path | None = TEXTURE_ATLAS,
          threads: int | None = THREADS) -> None:  # fmt: skip
    """Run a trained model on images or videos and write IUV/INDS PNGs, pictures and results.json.

    Exit codes: 0 done, 1 some images could not be read (the rest is written), 2 bad input, 130 interrupted.
    """
    from ktn_model.api import infer as run_inference
    from ktn_model.threads import torch_threads

    items, opts = split_overrides(list(inputs), CONFIG_KEY)
    opts += [] if precision is None else ["TEST.DENSEPOSE_PRECISION", precision]
    with torch_threads(threads):
        done = run_inference(items, weights, out, config_file, opts, min_score, vis.split(","), annotations, batch_size,
                                 texture_atlas)  # fmt: skip
    typer.echo(f"{done.inputs} input(s) ({done.inputs / done.seconds:.2f}/s), {done.detections} detection(s) with "
               f"score >= {min_score}: {out}/\nresults: {done.results}")  # fmt: skip
    if done.skipped:
        typer.echo(f"error: {len(done.skipped)} image(s) could not be read and were skipped", err=True)
        raise typer.Exit(EXIT_RUN_FAILED)
