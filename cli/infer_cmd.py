"""``ktn infer``: DensePose on images, folders, globs and videos; IUV/INDS PNGs, pictures, results.json."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from ktn_cli.common import EXIT_RUN_FAILED, guarded
from ktn_cli.model_options import CONFIG_FILE, MIN_SCORE, WEIGHTS
from ktn_cli.options import ranged, split_overrides, threads_option
from ktn_cli.sizes import render_limit
from ktn_model.inference.defaults import DEFAULT_VIS

CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*")  # SEED, MODEL.DEVICE, ...

INPUTS = typer.Argument(..., help="Image files, folders, glob patterns or video files, then optional config "
                        "overrides as KEY VALUE pairs (e.g. MODEL.DEVICE cpu INPUT.MIN_SIZE_TEST 600).")
OUT = typer.Option(..., "--out", help="Output folder.")
VIS = typer.Option(",".join(DEFAULT_VIS), "--vis", help="Comma-separated pictures to write: dp_contour, dp_segm, "
                   "dp_u, dp_v, dp_iuv_texture, bbox, keypoints, the conditioning renders dp_viridis (MagicAnimate) "
                   "and dp_parula (CivitAI); dp_uv_uncertainty (confidence models); dp_vertex (CSE models, whose "
                   "default is dp_vertex,bbox).")
RENDER_SIZE = ranged(None, "--render-size", low=1, high=render_limit, help="Short side in pixels of the dp_viridis / "
                     "dp_parula renders (the long side scaled alike, as ControlNet's detect_resolution); default: the "
                     "input's size.")
SHARD = typer.Option(None, "--shard", help="K/N (0 <= K < N): process only the inputs at positions K, K+N, K+2N, ... "
                     "of the input list, e.g. one shard per array job; results.json is merged from all shards' parts.")
NUM_GPUS = ranged(0, "--num-gpus", low=0, help="Run N processes, one per GPU (cuda:0 ... cuda:N-1), each on shard "
                  "r/N of the inputs; 0 = MODEL.DEVICE (default auto).")
STEADY = ranged(0, "--steady", low=0, help="Videos: 0 treats every frame alone; 1 keeps person identities across "
                "frames by box overlap (writes NAME_tracks.json); K > 1 also smooths each person's maps over K frames "
                "(a vote of part labels, U/V averaged within a part).")
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
MESH = typer.Option(None, "--mesh", help="CSE models: mesh pickle with 'vertices' (e.g. detectron2's smpl_27554.pkl) "
                    "that colours dp_vertex pictures by 3D position (default: a fixed colouring by vertex index).")
THREADS = threads_option()


def register(app: typer.Typer) -> None:
    """Add ``ktn infer`` to the `ktn` app (negative override values such as ``INPUT.MIN_SIZE_TEST -5`` pass)."""
    app.command("infer", context_settings={"ignore_unknown_options": True})(infer)


@guarded
def infer(inputs: list[str] = INPUTS, weights: Path = WEIGHTS, out: Path = OUT, config_file: Path | None = CONFIG_FILE,
          min_score: float = MIN_SCORE, vis: str = VIS, render_size: int | None = RENDER_SIZE,
          shard: str | None = SHARD, num_gpus: int = NUM_GPUS, steady: int = STEADY,
          annotations: Path | None = ANNOTATIONS, batch_size: int = BATCH_SIZE, precision: str | None = PRECISION,
          texture_atlas: Path | None = TEXTURE_ATLAS, mesh: Path | None = MESH, threads: int | None = THREADS) -> None:
    """Run a trained model on images or videos and write IUV/INDS PNGs, pictures and results.json.

    Exit codes: 0 done, 1 unreadable images or a video cut short (the rest is written), 2 bad input, 130 interrupted.
    """
    from ktn_model.api import InferenceOptions
    from ktn_model.api import infer as run_inference
    from ktn_model.inference.gpus import run_on_gpus
    from ktn_model.threads import torch_threads

    items, opts = split_overrides(list(inputs), CONFIG_KEY)
    opts += [] if precision is None else ["TEST.DENSEPOSE_PRECISION", precision]
    if num_gpus:
        raise typer.Exit(run_on_gpus(num_gpus, shard))
    options = InferenceOptions(vis.split(","), render_size, shard, steady, annotations, batch_size, texture_atlas, mesh)
    with torch_threads(threads):
        report(run_inference(items, weights, out, config_file, opts, min_score, options), min_score, out)


def report(done, min_score: float, out: Path) -> None:
    """The run in two lines; unreadable images and videos that stopped early as warnings, then exit 1."""
    typer.echo(f"{done.inputs} input(s) ({done.inputs / done.seconds:.2f}/s), {done.detections} detection(s) with "
               f"score >= {min_score}: {out}/\nresults: {done.results}")  # fmt: skip
    for line in done.incomplete:
        typer.echo(f"warning: {line}", err=True)
    if done.skipped:
        typer.echo(f"error: {len(done.skipped)} image(s) could not be read and were skipped", err=True)
    if done.skipped or done.incomplete:
        raise typer.Exit(EXIT_RUN_FAILED)
