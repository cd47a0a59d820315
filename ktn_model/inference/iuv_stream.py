"""``predict_iuv``: the network's full-image IUV and instance maps, per image or video frame, for the commands
that use the predictions rather than write them (``ktn texture``, ``ktn smpl``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ktn_model.data.dataset import read_rgb
from ktn_model.inference.defaults import DEFAULT_MIN_SCORE
from ktn_model.inference.image_outputs import paste_iuv
from ktn_model.inference.inputs import collect_inputs, is_video
from ktn_model.inference.pipeline import Predictor
from ktn_model.inference.video import opencv, video_frames

IUVItem = tuple[str, np.ndarray, np.ndarray, np.ndarray]


def predict_iuv(inputs: list[str], weights: str | Path, config_file: str | Path | None = None,
                min_score: float = DEFAULT_MIN_SCORE, opts: list[str] | None = None) -> Iterator[IUVItem]:  # fmt: skip
    """(name, image (H, W, 3) uint8, iuv (H, W, 3) uint8 [I, U*255, V*255], inds (H, W)) per image or frame.

    The inputs are checked and the model loaded before the first item is produced (a video needs OpenCV).
    """
    paths = collect_inputs(inputs)
    if any(is_video(p) for p in paths):
        opencv()
    predictor = Predictor.from_checkpoint(weights, config_file, opts, min_score)
    return _items(predictor, paths)


def _items(predictor: Predictor, paths: list[Path]) -> Iterator[IUVItem]:
    for path in paths:
        for name, image in video_frames(path) if is_video(path) else [(path.stem, read_rgb(path))]:
            yield name, image, *paste_iuv(predictor(image), *image.shape[:2])
