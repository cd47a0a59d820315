"""The library behind each ``ktn`` command, for Python users: the CLIs only parse arguments and call these.

``infer``, ``export``, ``convert``, ``extract_texture``, ``apply_texture`` and ``correspond_smpl`` check every
input file and output path before the model is loaded or anything is written, so a bad input fails in
seconds with one ValueError / OSError naming the file (the CLIs print it as one ``error:`` line, exit 2).
Training is ``ktn_model.engine.runner``, the demo ``ktn_model.demo.workflow.run_demo``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ktn_model.export import FORMATS, export_model
from ktn_model.export.exporter import Verification
from ktn_model.inference.defaults import DEFAULT_MIN_SCORE, DEFAULT_VIS
from ktn_model.inference.inputs import collect_inputs, is_video
from ktn_model.inference.iuv_stream import predict_iuv
from ktn_model.inference.pipeline import Predictor, build_trained_model, load_config
from ktn_model.inference.shards import parse_shard
from ktn_model.inference.video import opencv, pyav
from ktn_model.inference.writer import InferenceRun, image_ids_from, run
from ktn_model.modeling.checkpoint_io import check_layout, save_in_layout
from ktn_model.surface.atlas import DEFAULT_TILE, coverage_path_of, load_atlas, load_coverage
from ktn_model.surface.correspond import SurfaceLocator
from ktn_model.surface.smpl import check_fits, load_smpl_template
from ktn_model.surface.smpl_pixels import pixel_correspondences
from ktn_model.surface.texture import TextureAccumulator, fill_holes, paint, person_mask, to_uint8
from ktn_model.surface.uv_mesh import load_uv_data
from ktn_model.vis.conditioning import check_render_size
from ktn_model.vis.pictures import parse_vis
from ktn_model.vis.vertex_colours import load_mesh_vertices
from ktn_utils.atomic import atomic_write, check_output_file, check_output_folder, save_png


@dataclass
class InferenceOptions:
    """What ``infer`` writes besides the maps: the ``vis`` pictures (``render_size``: short side of the conditioning
    renders), which ``shard`` "K/N" of the inputs, video ``steady`` tracking (0 off, 1 track, K > 1 smooth over K),
    results.json image ids from ``annotations``, images per network call, the ``texture_atlas`` of dp_iuv_texture and
    the ``mesh`` that colours dp_vertex."""

    vis: Sequence[str] = DEFAULT_VIS
    render_size: int | None = None
    shard: str | None = None
    steady: int = 0
    annotations: str | Path | None = None
    batch_size: int = 1
    texture_atlas: str | Path | None = None
    mesh: str | Path | None = None


@dataclass
class InferenceSummary:
    """What ``infer`` did: inputs processed, seconds, detections kept, the results file, unreadable images, videos
    whose decoding stopped early (one line each)."""

    inputs: int
    seconds: float
    detections: int
    results: Path
    skipped: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)


def infer(inputs: Sequence[str], weights: str | Path, out: str | Path, config_file: str | Path | None = None,
          opts: list[str] | None = None, min_score: float = DEFAULT_MIN_SCORE,
          options: InferenceOptions | None = None) -> InferenceSummary:  # fmt: skip
    """``ktn infer``: IUV/INDS PNGs (or the maps of confidence / CSE models), the pictures and results.json of every
    input in the folder ``out``; a restarted run skips the images already done (docs/inference.md)."""
    options = options or InferenceOptions()
    check_output_folder(out)
    vis = parse_vis(",".join(options.vis))
    check_render_size(options.render_size)
    if options.steady < 0:
        raise ValueError(f"--steady must be 0 or more frames, got {options.steady}")
    shard = parse_shard(options.shard)
    paths = collect_inputs(list(inputs))
    if any(is_video(p) for p in paths):
        opencv(), pyav()  # a video needs OpenCV and PyAV: say so before the model loads
    image_ids = image_ids_from(options.annotations)
    atlas = None if options.texture_atlas is None else load_atlas(options.texture_atlas)[0]
    mesh_xyz = None if options.mesh is None else load_mesh_vertices(options.mesh)
    predictor = Predictor.from_checkpoint(weights, config_file, opts, min_score)
    job = InferenceRun(predictor, Path(out), vis, image_ids, atlas=atlas, mesh_xyz=mesh_xyz,
                       render_size=options.render_size, steady=options.steady)
    start = time.perf_counter()
    results = run(job, paths, options.batch_size, shard=shard)
    return InferenceSummary(len(paths), time.perf_counter() - start, len(job.results), results, job.skipped,
                            job.incomplete)


def export(weights: str | Path, out: str | Path, fmt: str = "onnx", config_file: str | Path | None = None,
           opts: list[str] | None = None) -> Verification:  # fmt: skip
    """``ktn export``: the model as one ONNX or TorchScript file, checked against PyTorch on a second shape."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    check_output_file(out)
    cfg = load_config(weights, config_file, ["MODEL.DEVICE", "cpu", *(opts or [])])
    return export_model(build_trained_model(cfg, weights), cfg, out, fmt)


def convert(checkpoint: str | Path, layout: str, out: str | Path, config_file: str | Path | None = None) -> int:
    """``ktn convert``: the weights in the original code's ``layout`` (detectron2 .pkl or ktnv2 .pth); returns
    the tensor count. Reading the file back gives the same tensors."""
    check_layout(layout)
    check_output_file(out)
    cfg = load_config(checkpoint, config_file, ["MODEL.DEVICE", "cpu"])
    return save_in_layout(build_trained_model(cfg, checkpoint), layout, out)


@dataclass
class TextureSummary:
    """What ``extract_texture`` wrote: person pixels used, images with any, the share of texels seen."""

    pixels: int
    images: int
    seen: float
    atlas: Path
    coverage: Path


def extract_texture(inputs: Sequence[str], weights: str | Path, out: str | Path,
                    config_file: str | Path | None = None, min_score: float = DEFAULT_MIN_SCORE,
                    tile_size: int = DEFAULT_TILE, person: int | None = None,
                    fill: bool = False) -> TextureSummary:  # fmt: skip
    """``ktn texture extract``: one person's colours over all inputs, averaged into a DensePose atlas ``out``
    (4N x 6N PNG) and its coverage mask beside it; ``person`` k of each image (default: the largest)."""
    coverage_path = coverage_path_of(out)
    check_output_file(out)
    check_output_file(coverage_path)
    accumulator = TextureAccumulator(tile_size)
    images = pixels = 0
    for _, image, iuv, inds in predict_iuv(list(inputs), weights, config_file, min_score):
        added = accumulator.add(image, iuv, person_mask(inds, person))
        images, pixels = images + (added > 0), pixels + added
    if pixels == 0:
        raise ValueError("no person pixels found in the inputs (try a lower --min-score or another --person)")
    coverage = accumulator.coverage()
    save_png(out, to_uint8(fill_holes(accumulator.atlas(), coverage) if fill else accumulator.atlas()))
    save_png(coverage_path, coverage.astype(np.uint8) * 255)
    return TextureSummary(pixels, images, float(coverage.mean()), Path(out), coverage_path)


def apply_texture(atlas: str | Path, inputs: Sequence[str], weights: str | Path, out: str | Path,
                  config_file: str | Path | None = None, min_score: float = DEFAULT_MIN_SCORE, alpha: float = 1.0,
                  coverage: str | Path | None = None) -> int:  # fmt: skip
    """``ktn texture apply``: the atlas painted onto every detected person, ``out/NAME_texture.png`` per image or
    frame (``alpha`` 1 = texture only, 0 = image only); returns the image count."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: must be in [0, 1]")
    check_output_folder(out)
    pixels, opacity = load_atlas(atlas)
    if coverage is not None:
        seen = load_coverage(coverage, pixels.shape[:2])
        opacity = seen if opacity is None else opacity * seen
    count = 0
    for name, image, iuv, _ in predict_iuv(list(inputs), weights, config_file, min_score):
        save_png(Path(out) / f"{name}_texture.png", paint(image, iuv, pixels, opacity=opacity, alpha=alpha))
        count += 1
    return count


def correspond_smpl(inputs: Sequence[str], weights: str | Path, uv_data: str | Path, out: str | Path,
                    smpl_model: str | Path | None = None, config_file: str | Path | None = None,
                    min_score: float = DEFAULT_MIN_SCORE) -> tuple[int, int]:  # fmt: skip
    """``ktn smpl correspond``: ``out/NAME_smpl.npz`` per image or frame (``smpl_pixels``); returns (images,
    person pixels)."""
    check_output_folder(out)
    mesh = load_uv_data(uv_data)
    template = None if smpl_model is None else load_smpl_template(smpl_model)
    if template is not None:
        check_fits(mesh, template, smpl_model)
    locator = SurfaceLocator(mesh)
    count = pixels = 0
    for name, _, iuv, inds in predict_iuv(list(inputs), weights, config_file, min_score):
        arrays = pixel_correspondences(locator, iuv, inds, template)
        atomic_write(Path(out) / f"{name}_smpl.npz", lambda f, a=arrays: np.savez_compressed(f, **a))
        count, pixels = count + 1, pixels + len(arrays["y"])
    return count, pixels
