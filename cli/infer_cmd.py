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
                            "dp_segm, dp_u, dp_v, dp_iuv_texture, bbox, keypoints; dp_uv_uncertainty (confidence "
                            "models); dp_vertex (CSE models, whose default is dp_vertex,bbox)."),
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
    from ktn_model.surface.atlas import load_atlas

    items, opts = split_overrides(list(inputs))
    opts += [] if precision is None else ["TEST.DENSEPOSE_PRECISION", precision]
    vis_names = parse_vis(vis)
    paths = collect_inputs(items)
    image_ids = image_ids_from(annotations)
    predictor = Predictor.from_checkpoint(weights, config_file, opts, min_score)
    atlas = None if texture_atlas is None else load_atlas(texture_atlas)[0]
    mesh_xyz = None if mesh is None else load_mesh_vertices(mesh)
    job = InferenceRun(predictor, out, vis_names, image_ids, atlas=atlas, mesh_xyz=mesh_xyz)
    start = time.perf_counter()
    results = run(job, paths, batch_size)
    rate = len(paths) / (time.perf_counter() - start)
    typer.echo(f"{len(paths)} input(s) ({rate:.2f}/s), {len(job.results)} detection(s) with score >= {min_score}: "
               f"{out}/")
    typer.echo(f"results: {results}")
    if job.skipped:
        typer.echo(f"error: {len(job.skipped)} image(s) could not be read and were skipped", err=True)
        raise typer.Exit(EXIT_RUN_FAILED)
