"""``ktn infer`` outputs (docs/densepose_format.md): inputs in, IUV/INDS PNGs, pictures and results.json out.

Per image ``NAME`` (its path relative to the inputs' common folder, so same-named files in different folders
stay apart): ``NAME_IUV.png`` (full image, [I, U·255, V·255]), ``NAME_INDS.png`` (0 = background, k = the
k-th detection of that image, in results order) and one ``NAME_<vis>.png`` per requested picture. One
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
from ktn_model.inference.image_outputs import coco_results, paste_iuv
from ktn_model.inference.inputs import is_video, output_names, read_ahead
from ktn_model.inference.pipeline import Predictor
from ktn_model.vis.pictures import render
from ktn_utils.atomic import atomic_write, save_png
from ktn_utils.progress import ImageProgress

RESULTS_FILE = "results.json"
logger = logging.getLogger(__name__)


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
    results: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def image_id(self, name: str, default: int | None = None) -> int | None:
        """The ground-truth id of an input (by its relative name, else its file name), else ``default``."""
        return self.image_ids.get(name, self.image_ids.get(Path(name).name, default))

    def images(self, batch: list[tuple[str, int, np.ndarray]]) -> None:
        """Predict a batch of (name, index, pixels) in one network call; write their PNGs and results."""
        outputs = self.predictor.predict([pixels for _, _, pixels in batch])
        for (name, index, pixels), output in zip(batch, outputs, strict=True):
            self.write(name, pixels, output)
            self.results.extend({**r, "file_name": name} for r in coco_results(self.image_id(name, index), output))

    def write(self, name: str, pixels: np.ndarray, output: dict) -> None:
        iuv, inds = paste_iuv(output, *pixels.shape[:2])
        stem = name.rsplit(".", 1)[0]
        save_png(self.out_dir / f"{stem}_IUV.png", iuv)
        save_png(self.out_dir / f"{stem}_INDS.png", inds)
        drawn = output if self.atlas is None else {**output, "texture_atlas": self.atlas}
        for vis in self.vis:
            picture = render(vis, pixels, iuv, drawn, long_side=self.long_side, legend=self.legend)
            save_png(self.out_dir / f"{stem}_{vis}.png", picture)

    def video(self, path: Path) -> int:
        """Annotate every frame of a video with the first visualisation; returns the frame count."""
        from ktn_model.inference.video import annotate_video  # needs OpenCV, imported only for videos

        return annotate_video(path, self.out_dir, self.vis[0] if self.vis else "dp_segm", self._annotate_frame)

    def _annotate_frame(self, frame: np.ndarray, vis: str) -> np.ndarray:
        output = self.predictor(frame)
        iuv, _ = paste_iuv(output, *frame.shape[:2])
        return render(vis, frame, iuv, output)

    def save_results(self) -> Path:
        path = self.out_dir / RESULTS_FILE
        atomic_write(path, lambda f: f.write(json.dumps(self.results).encode()))
        return path


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


def run(job: InferenceRun, paths: list[Path], batch_size: int = 1, progress: ImageProgress | None = None) -> Path:
    """Process every input (images numbered from 1 in order, ``batch_size`` per network call, videos frame by
    frame); write results.json. ``progress`` (default: a bar on stderr) advances per input.

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
    job.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        images = read_ahead([p for p in paths if not is_video(p)])
        batch: list[tuple[str, int, np.ndarray]] = []
        with progress or ImageProgress(len(paths)) as bar:
            for index, path in enumerate(paths, start=1):
                if is_video(path):
                    job.video(path)
                    bar.advance()
                elif isinstance(pixels := next(images), ImageReadError):
                    logger.warning("skipped %s", pixels)
                    job.skipped.append(str(path))
                    bar.advance()
                else:
                    batch.append((names[path], index, pixels))
                if batch and (len(batch) == batch_size or index == len(paths) or is_video(paths[index])):
                    job.images(batch)
                    bar.advance(len(batch))
                    batch = []
    except BaseException:
        if created and not any(job.out_dir.iterdir()):
            job.out_dir.rmdir()  # a run that failed leaves no empty folder behind
        raise
    return job.save_results()

