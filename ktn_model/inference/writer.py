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

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ktn_model.data.coco_json import read_json
from ktn_model.data.dataset import ImageReadError
from ktn_model.inference.defaults import DEFAULT_CSE_VIS, DEFAULT_VIS
from ktn_model.inference.image_outputs import (
    confidence_names,
    image_maps,
    is_cse,
    model_output_type,
    result_records,
    write_maps,
)
from ktn_model.inference.inputs import is_video, output_names, read_ahead
from ktn_model.inference.pipeline import Predictor
from ktn_model.inference.shards import in_shard, is_done, merge_results, remove_stale_temp_files, write_part
from ktn_model.vis.conditioning import STYLES, render_output, render_size
from ktn_model.vis.pictures import render
from ktn_utils.atomic import atomic_write, save_png
from ktn_utils.progress import ImageProgress

RESULTS_FILE = "results.json"
logger = logging.getLogger(__name__)
# pictures that need a model of one kind: name -> what the model must have
MODEL_PICTURES = {"dp_uv_uncertainty": "U/V confidences (a WC preset)", "dp_vertex": "a CSE model"}


def check_vis(names: list[str], output_type: type) -> None:
    """ValueError (one line) for a picture the model cannot give: U/V uncertainty without U/V confidences, the vertex
    picture without a CSE model, I/U/V pictures with one."""
    cse = is_cse(output_type)
    has = {"dp_uv_uncertainty": "sigma_2" in confidence_names(output_type), "dp_vertex": cse}
    wrong = [n for n in names if not has.get(n, not cse or n in ("bbox", "keypoints"))]
    if wrong:
        needs = MODEL_PICTURES.get(wrong[0], "a chart model (I, U, V)")
        raise ValueError(f"--vis {wrong[0]} needs {needs}; this model is {output_type.__name__}")


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
        outputs = self.predictor.predict(images, self.render_sizes(images))
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

    @property
    def video_vis(self) -> str:
        """The picture a video is annotated with: the first requested one."""
        return self.vis[0] if self.vis else "dp_segm"

    def tracks_path(self, path: Path) -> Path:
        return self.out_dir / f"{path.stem}_tracks.json"

    def video_outputs(self, path: Path) -> list[Path]:
        """The files a video's run writes: ``<stem>_<first vis>.mp4``, and ``<stem>_tracks.json`` with ``steady``."""
        tracks = [self.tracks_path(path)] if self.steady else []
        return [self.out_dir / f"{path.stem}_{self.video_vis}.mp4", *tracks]

    def done(self, path: Path, name: str) -> bool:
        """Whether an earlier run finished input ``path`` (output name ``name``): its part exists and, for a video,
        its outputs too (a deleted annotated video is made again)."""
        if not is_done(self.out_dir, name):
            return False
        return not is_video(path) or all(p.is_file() for p in self.video_outputs(path))

    def video(self, path: Path, name: str) -> int:
        """Annotate every frame of a video with the first visualisation; returns the frame count. With ``steady``
        the persons are tracked (and smoothed) across frames and ``<stem>_tracks.json`` lists them. A killed run's
        finished segments are kept, with the tracking state (``annotate_video``). Then an empty part records the
        video as done (also one whose decoding stopped early: its frames so far are written)."""
        from ktn_model.inference.steady import SteadyVideo
        from ktn_model.inference.video import annotate_video  # needs OpenCV, imported only for videos

        self._steady = SteadyVideo(self.steady) if self.steady else None
        frames, announced = annotate_video(path, self.out_dir, self.video_vis, self._annotate_frame, self._steady)
        if self._steady is not None:
            tracks = json.dumps(self._steady.records).encode()
            atomic_write(self.tracks_path(path), lambda f: f.write(tracks))
        write_part(self.out_dir, name, [])  # last: done; no detections (results.json merges image names only)
        if frames < announced:
            self.incomplete.append(f"{path}: decoding stopped after frame {frames} of {announced}; the {frames} "
                                   "frames so far are written")
        return frames

    def _annotate_frame(self, frame: np.ndarray, vis: str) -> np.ndarray:
        (output,) = self.predictor.predict([frame], self.render_sizes([frame]))
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
    todo = [(index, path) for index, path in mine if not job.done(path, names[path])]
    try:
        images = read_ahead([p for _, p in todo if not is_video(p)])
        batch: list[tuple[str, int, np.ndarray]] = []
        with progress or ImageProgress(len(mine)) as bar:
            bar.advance(len(mine) - len(todo))
            for k, (index, path) in enumerate(todo):
                if is_video(path):
                    job.video(path, names[path])
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

