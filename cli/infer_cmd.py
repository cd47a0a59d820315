"""``ktn infer``: DensePose on images, folders, globs and videos; IUV/INDS PNGs, pictures, results.json."""

from __future__ import annotations

import re
import time
from pathlib import Path

import typer

from ktn_cli.common import EXIT_RUN_FAILED, guarded
from ktn_model.engine.defaults import DEFAULT_MIN_SCORE, DEFAULT_VIS

CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+")


def register(app: typer.Typer) -> None:
    """Add ``ktn infer`` to the `ktn` app."""
    app.command("infer")(infer)


def split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """(inputs, KEY VALUE overrides): the overrides start at the first config key (``MODEL.DEVICE``...)."""
    for k, item in enumerate(items):
        if CONFIG_KEY.fullmatch(item) and not Path(item).exists():
            return items[:k], items[k:]
    return items, []


@guarded
def infer(
    inputs: list[str] = typer.Argument(..., help="Image files, folders, glob patterns or video files, then optional "
                                       "config overrides as KEY VALUE pairs (e.g. MODEL.DEVICE cpu)."),
    weights: Path = typer.Option(..., "--weights", help="Checkpoint: ours (model_*.pth), a detectron2 model-zoo "
                                 ".pkl or a KTN-release .pth (the format is detected from the content), a "
                                 "`ktn export` file: .onnx (run by onnxruntime) or TorchScript, or zoo:NAME (`ktn "
                                 "models`; downloaded once into KTN_CACHE, with its preset)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="Config of the model, e.g. configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml "
        "(default: config.yaml beside the weights)."
    ),
    min_score: float = typer.Option(DEFAULT_MIN_SCORE, "--min-score",
                                    help="Keep detections with at least this score (0 keeps every detection)."),
    vis: str = typer.Option(",".join(DEFAULT_VIS), "--vis", help="Comma-separated pictures to write: dp_contour, "
                            "dp_segm, dp_u, dp_v, dp_iuv_texture, bbox, keypoints, the conditioning renders "
                            "dp_viridis (MagicAnimate) and dp_parula (CivitAI); dp_uv_uncertainty (confidence "
                            "models); dp_vertex (CSE models, whose default is dp_vertex,bbox)."),
    render_size: int | None = typer.Option(
        None, "--render-size", help="Short side in pixels of the dp_viridis / dp_parula renders (the long side "
        "scaled alike, as ControlNet's detect_resolution); default: the input's size."),
    shard: str | None = typer.Option(
        None, "--shard", help="K/N (0 <= K < N): process only the inputs at positions K, K+N, K+2N, ... of the "
        "input list, e.g. one shard per array job; results.json is merged from all shards' parts."),
    num_gpus: int = typer.Option(0, "--num-gpus", help="Run N processes, one per GPU (cuda:0 ... cuda:N-1), each "
                                 "on shard r/N of the inputs; 0 = MODEL.DEVICE (default auto)."),
    steady: int = typer.Option(0, "--steady", help="Videos: 0 treats every frame alone; 1 keeps person identities "
                               "across frames by box overlap (writes NAME_tracks.json); K > 1 also smooths each "
                               "person's maps over K frames (a vote of part labels, U/V averaged within a part)."),
    annotations: Path | None = typer.Option(
        None, "--annotations", help="COCO json whose image ids results.json uses (matched by file name); every "
        "input image must be in it."
    ),
    batch_size: int = typer.Option(1, "--batch-size", help="Images per network call. Above 1 the PyTorch "
                                   "model pads a batch to its largest image, which can change detections slightly."),
    precision: str | None = typer.Option(
        None, "--precision", help="Arithmetic of the DensePose branch (TEST.DENSEPOSE_PRECISION): float32 "
        "(default), or bfloat16 / float16 through autocast: faster on CPUs with AVX-512 BF16 and on GPUs; the "
        "detections stay the float32 ones, the DensePose maps differ slightly (docs/export.md). PyTorch "
        "checkpoints only."),
    texture_atlas: Path | None = typer.Option(
        None, "--texture-atlas", help="Texture atlas (ktn texture extract) that dp_iuv_texture paints; default: "
        "a reference atlas of one colour and a UV grid per patch."),
    mesh: Path | None = typer.Option(
        None, "--mesh", help="CSE models: mesh pickle with 'vertices' (e.g. detectron2's smpl_27554.pkl) that colours "
        "dp_vertex pictures by 3D position (default: a fixed colouring by vertex index)."),
) -> None:
    """Run a trained model on images or videos and write IUV/INDS PNGs, pictures and results.json.

    Exit codes: 0 done, 1 some images could not be read (the rest is written), 2 bad input, 130 interrupted.
    """
    from ktn_model.engine.outputs import InferenceRun, collect_inputs, image_ids_from, run
    from ktn_model.engine.predictor import Predictor
    from ktn_model.engine.vertex_colours import load_mesh_vertices
    from ktn_model.engine.visualize import parse_vis
    from ktn_model.inference.gpus import run_on_gpus
    from ktn_model.inference.shards import parse_shard
    from ktn_model.surface.atlas import load_atlas
    from ktn_model.vis.conditioning import check_render_size

    items, opts = split_overrides(list(inputs))
    opts += [] if precision is None else ["TEST.DENSEPOSE_PRECISION", precision]
    vis_names = parse_vis(vis)
    check_render_size(render_size)
    if steady < 0:
        raise ValueError(f"--steady must be 0 or more frames, got {steady}")
    shard_kn = parse_shard(shard)
    if num_gpus:
        code = run_on_gpus(num_gpus, shard)
        if code:
            raise typer.Exit(code)
        return
    paths = collect_inputs(items)
    image_ids = image_ids_from(annotations)
    predictor = Predictor.from_checkpoint(weights, config_file, opts, min_score)
    atlas = None if texture_atlas is None else load_atlas(texture_atlas)[0]
    mesh_xyz = None if mesh is None else load_mesh_vertices(mesh)
    job = InferenceRun(predictor, out, vis_names, image_ids, atlas=atlas, mesh_xyz=mesh_xyz, render_size=render_size,
                       steady=steady)
    start = time.perf_counter()
    results = run(job, paths, batch_size, shard=shard_kn)
    rate = len(paths) / (time.perf_counter() - start)
    typer.echo(f"{len(paths)} input(s) ({rate:.2f}/s), {len(job.results)} detection(s) with score >= {min_score}: "
               f"{out}/")
    typer.echo(f"results: {results}")
    for line in job.incomplete:
        typer.echo(f"warning: {line}", err=True)
    if job.incomplete and not job.skipped:
        raise typer.Exit(EXIT_RUN_FAILED)
    if job.skipped:
        typer.echo(f"error: {len(job.skipped)} image(s) could not be read and were skipped", err=True)
        raise typer.Exit(EXIT_RUN_FAILED)
