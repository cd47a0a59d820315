"""``ktn infer`` outputs (docs/densepose_format.md): inputs in, IUV/INDS PNGs, pictures and results.json out.

Per image ``NAME`` (its path relative to the inputs' common folder, so same-named files in different folders
stay apart): ``NAME_IUV.png`` (full image, [I, U·255, V·255]), ``NAME_INDS.png`` (0 = background, k = the
k-th detection of that image, in results order), ``NAME_conf.npz`` for confidence models, ``NAME_vertices.png``
instead of the IUV for CSE models (``image_maps``), and one ``NAME_<vis>.png`` per requested picture. One
``results.json`` lists every detection in the official encoding. Where detections overlap, the higher
score wins. An unreadable image is skipped with one warning; the others are still written. Images are read
in a background thread ahead of the network and can be run in batches; a progress bar shows images/s.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ktn_model.data.coco_json import read_json
from ktn_model.data.dataset import ImageReadError, read_rgb
from ktn_model.engine.defaults import DEFAULT_CSE_VIS, DEFAULT_VIS
from ktn_model.engine.image_maps import (  # noqa: F401 (paste_iuv, save_png: this module's interface)
    image_maps,
    is_cse,
    model_output_type,
    paste_iuv,
    result_records,
    save_png,
    write_maps,
)
from ktn_model.engine.predictor import Predictor
from ktn_model.engine.progress import ImageProgress
from ktn_model.engine.visualize import check_vis, render
from ktn_model.inference.shards import in_shard, is_done, merge_results, remove_stale_temp_files, write_part
from ktn_model.modeling.structures import DensePoseEmbeddingResult, DensePoseOutput
from ktn_model.vis.conditioning import STYLES, render_output, render_size
from ktn_utils.atomic import atomic_write

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
RESULTS_FILE = "results.json"
READ_AHEAD = 4  # images decoded in the background ahead of the one the network is on
logger = logging.getLogger(__name__)


def collect_inputs(inputs: list[str]) -> list[Path]:
    """Image and video files named by paths, folders (their images, sorted) or glob patterns, in order."""
    if not inputs:
        raise ValueError("no inputs given")
    found: list[Path] = []
    for item in inputs:
        matches = _expand(item)
        if not matches:
            raise FileNotFoundError(f"{item}: no image or video found")
        found.extend(m for m in matches if m not in found)
    return found


def _expand(item: str) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise ValueError(f"{item}: not an image or video file (suffix {path.suffix or 'none'})")
        return [path]
    return sorted(Path(p) for p in glob.glob(item) if Path(p).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def output_names(paths: list[Path]) -> dict[Path, str]:
    """Each input's name relative to the common folder of all inputs (POSIX separators)."""
    root = Path(os.path.commonpath([p.resolve().parent for p in paths]))
    return {p: p.resolve().relative_to(root).as_posix() for p in paths}


def read_or_error(path: Path) -> np.ndarray | ImageReadError:
    """``read_rgb(path)``, or the error that names why it cannot be read."""
    try:
        return read_rgb(path)
    except ImageReadError as e:
        return e


def read_ahead(paths: list[Path], depth: int = READ_AHEAD) -> Iterator[np.ndarray | ImageReadError]:
    """``read_or_error`` of each path in order, run in one background thread at most ``depth`` images ahead."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = deque(pool.submit(read_or_error, p) for p in paths[:depth])
        for k in range(len(paths)):
            pixels = pending.popleft().result()
            if k + depth < len(paths):
                pending.append(pool.submit(read_or_error, paths[k + depth]))
            yield pixels


def coco_results(image_id: int, output: dict) -> list[dict]:
    """One image's post-processed detections of a chart model in the official result encoding."""
    if any(isinstance(r, DensePoseEmbeddingResult) for r in output["densepose"]):
        raise ValueError("CSE models have no I, U, V results: GPS evaluation needs a chart model (docs/cse.md)")
    return result_records(image_id, output, DensePoseOutput)


@dataclass
class InferenceRun:
    """Writes the outputs of one ``ktn infer`` run into ``out_dir``."""

    predictor: Predictor
    out_dir: Path
    vis: list[str] = field(default_factory=list)
    image_ids: dict[str, int] = field(default_factory=dict)  # file name -> id (e.g. from a GT json)
    long_side: int = 0  # pictures enlarged (nearest) to at least this many pixels; 0 = image size
    legend: bool = False  # a patch colour key on dp_segm pictures
    atlas: np.ndarray | None = None  # (6N, 4N, 3) texture atlas for dp_iuv_texture pictures
    mesh_xyz: np.ndarray | None = None  # (V, 3) vertex positions that colour dp_vertex pictures (CSE models)
    render_size: int | None = None  # short side of the conditioning renders (dp_viridis, dp_parula); None = input's
    steady: int = 0  # videos: 0 = frames alone; 1 = track persons (NAME_tracks.json); K > 1 = also smooth over K
    incomplete: list[str] = field(default_factory=list)  # videos whose decoding stopped early (one line each)
    _steady: object = field(default=None, init=False, repr=False)  # the current video's SteadyVideo
    results: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def image_id(self, name: str, default: int | None = None) -> int | None:
        """The ground-truth id of an input (by its relative name, else its file name), else ``default``."""
        return self.image_ids.get(name, self.image_ids.get(Path(name).name, default))

    def __post_init__(self) -> None:
        self.output_type = model_output_type(self.predictor.model)  # chart, with confidences, or CSE
        if is_cse(self.output_type) and tuple(self.vis) == DEFAULT_VIS:
            self.vis = list(DEFAULT_CSE_VIS)
        check_vis(self.vis, self.output_type)

    def images(self, batch: list[tuple[str, int, np.ndarray]]) -> None:
        """Predict a batch of (name, index, pixels) in one network call; write their PNGs and results."""
        images = [pixels for _, _, pixels in batch]
        sizes = self.render_sizes(images)
        outputs = self.predictor.predict(images) if sizes is None else self.predictor.predict(images, sizes)
        for (name, index, pixels), output in zip(batch, outputs, strict=True):
            self.write(name, pixels, output)
            records = result_records(self.image_id(name, index), output, self.output_type)
            found = [{**r, "file_name": name} for r in records]
            write_part(self.out_dir, name, found)  # last: the image is done (a restarted run skips it)
            self.results.extend(found)

    def write(self, name: str, pixels: np.ndarray, output: dict) -> None:
        maps = image_maps(output, *pixels.shape[:2], self.output_type)
        stem = name.rsplit(".", 1)[0]
        write_maps(self.out_dir, stem, maps, self.output_type)
        extra = {"texture_atlas": self.atlas, "mesh_xyz": self.mesh_xyz}
        drawn = {**output, "image_maps": maps, **{k: v for k, v in extra.items() if v is not None}}
        for vis in self.vis:
            save_png(self.out_dir / f"{stem}_{vis}.png", self.picture(vis, pixels, maps.iuv, drawn))

    def render_sizes(self, images: list[np.ndarray]) -> list[tuple[int, int]] | None:
        """The frame of the conditioning renders per image when one is requested at another size, else None."""
        if self.render_size is None or not any(vis in STYLES for vis in self.vis):
            return None
        return [render_size(*image.shape[:2], self.render_size) for image in images]

    def picture(self, vis: str, pixels: np.ndarray, iuv: np.ndarray, output: dict) -> np.ndarray:
        """Picture ``vis`` of one image: a conditioning render (in ``output["render"]``'s frame when a render size
        was requested) or a drawing on the image."""
        if vis in STYLES:
            return render_output(vis, output.get("render", output), render_size(*pixels.shape[:2], self.render_size))
        return render(vis, pixels, iuv, output, long_side=self.long_side, legend=self.legend)

    def video(self, path: Path) -> int:
        """Annotate every frame of a video with the first visualisation; returns the frame count. With ``steady``
        the persons are tracked (and smoothed) across frames and ``<stem>_tracks.json`` lists them."""
        from ktn_model.engine.video import annotate_video  # needs OpenCV, imported only for videos
        from ktn_model.inference.steady import SteadyVideo

        self._steady = SteadyVideo(self.steady) if self.steady else None
        frames, announced = annotate_video(path, self.out_dir, self.vis[0] if self.vis else "dp_segm",
                                           self._annotate_frame)
        if self._steady is not None:
            tracks = json.dumps(self._steady.records).encode()
            atomic_write(self.out_dir / f"{path.stem}_tracks.json", lambda f: f.write(tracks))
        if frames < announced:
            self.incomplete.append(f"{path}: decoding stopped after frame {frames} of {announced}; the {frames} "
                                   "frames so far are written")
        return frames

    def _annotate_frame(self, frame: np.ndarray, vis: str) -> np.ndarray:
        sizes = self.render_sizes([frame])
        output = (self.predictor.predict([frame]) if sizes is None else self.predictor.predict([frame], sizes))[0]
        if self._steady is not None:
            output = self._steady(output)
        maps = image_maps(output, *frame.shape[:2], self.output_type)
        return self.picture(vis, frame, maps.iuv, {**output, "image_maps": maps})

    def save_results(self, names: list[str]) -> Path:
        """results.json from the done images among ``names`` (every input's output name, in input order)."""
        return merge_results(self.out_dir, names, RESULTS_FILE)


def image_ids_from(annotations_json: str | Path | None) -> dict[str, int]:
    """``{file_name: id}`` from a COCO json's ``images`` (so results.json matches its ground truth)."""
    if not annotations_json:
        return {}
    data = read_json(Path(annotations_json), "annotation file")
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise ValueError(f"{annotations_json}: not a COCO json (no 'images' list)")
    try:
        return {Path(img["file_name"]).name: int(img["id"]) for img in images}
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{annotations_json}: an 'images' record lacks a valid file_name or id ({e})") from None


def run(job: InferenceRun, paths: list[Path], batch_size: int = 1, progress: ImageProgress | None = None,
        shard: tuple[int, int] = (0, 1)) -> Path:
    """Process every input of ``shard`` (K, N) not done yet (images numbered from 1 in the order of the whole
    list, ``batch_size`` per network call, videos frame by frame); write results.json from every done image.
    ``progress`` (default: a bar on stderr) advances per input of the shard. See ``ktn_model.inference.shards``.

    An unreadable image is skipped with a warning (``job.skipped``); with a ground truth (``job.image_ids``)
    every image must be in it.
    """
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    names = output_names(paths)
    if job.image_ids:
        unknown = [n for p, n in names.items() if not is_video(p) and job.image_id(n) is None]
        if unknown:
            raise ValueError(f"{len(unknown)} input image(s) are not in the annotations, e.g. {unknown[0]}")
    created = not job.out_dir.exists()
    remove_stale_temp_files(job.out_dir)  # of a killed run
    job.out_dir.mkdir(parents=True, exist_ok=True)
    mine = [(index, path) for index, path in enumerate(paths, start=1) if in_shard(index - 1, shard)]
    todo = [(index, path) for index, path in mine if is_video(path) or not is_done(job.out_dir, names[path])]
    try:
        images = read_ahead([p for _, p in todo if not is_video(p)])
        batch: list[tuple[str, int, np.ndarray]] = []
        with progress or ImageProgress(len(mine)) as bar:
            bar.advance(len(mine) - len(todo))
            for k, (index, path) in enumerate(todo):
                if is_video(path):
                    job.video(path)
                    bar.advance()
                elif isinstance(pixels := next(images), ImageReadError):
                    logger.warning("skipped %s", pixels)
                    job.skipped.append(str(path))
                    bar.advance()
                else:
                    batch.append((names[path], index, pixels))
                if batch and (len(batch) == batch_size or k + 1 == len(todo) or is_video(todo[k + 1][1])):
                    job.images(batch)
                    bar.advance(len(batch))
                    batch = []
    except BaseException:
        if created and not any(job.out_dir.iterdir()):
            job.out_dir.rmdir()  # a run that failed leaves no empty folder behind
        raise
    return job.save_results([names[p] for p in paths if not is_video(p)])

