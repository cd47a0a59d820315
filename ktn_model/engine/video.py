"""Video input for ``ktn infer`` (OpenCV, the optional ``video`` extra): frames in, annotated video out."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_FPS = 25.0


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ValueError("reading videos needs OpenCV: pip install 'ktn[video]'") from None
    return cv2


def annotate_video(path: Path, out_dir: Path, vis: str, annotate: Callable[[np.ndarray, str], np.ndarray]
                   ) -> tuple[int, int]:  # fmt: skip
    """Write ``out_dir/<stem>_<vis>.mp4`` with ``annotate(rgb_frame, vis)`` applied to every frame.

    The video is written under a hidden name and renamed when complete (also when decoding stops before the frame
    count its header gives: the frames so far are kept). Returns (frames written, frames the header announces).
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: not a readable video")
    fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    final = out_dir / f"{path.stem}_{vis}.mp4"
    partial = out_dir / f".{final.stem}.partial.mp4"
    writer, frames = None, 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = annotate(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), vis)
            if writer is None:
                size = (rgb.shape[1], rgb.shape[0])
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            frames += 1
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise ValueError(f"{path}: the video has no readable frames")
    os.replace(partial, final)
    return frames, announced
