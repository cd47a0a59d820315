"""Videos (OpenCV, the optional ``video`` extra): the one frame reader, and the annotated-video writer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

DEFAULT_FPS = 25.0


def opencv():
    """The ``cv2`` module, or a ValueError saying how to install it."""
    try:
        import cv2
    except ImportError:
        raise ValueError("reading videos needs OpenCV: pip install 'ktn[video]'") from None
    return cv2


def video_frames(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(``<stem>_<frame:06d>``, (H, W, 3) uint8 RGB) for every frame of a video, in order.

    A ValueError naming the file when it cannot be opened or holds no readable frame.
    """
    cv2 = opencv()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: not a readable video")
    index = 0
    try:
        while (frame := capture.read())[0]:
            yield f"{path.stem}_{index:06d}", cv2.cvtColor(frame[1], cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError(f"{path}: the video has no readable frames")


def video_header(path: Path) -> tuple[float, int]:
    """(frames per second (``DEFAULT_FPS`` when the file does not say), frame count the header announces)."""
    cv2 = opencv()
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def annotate_video(path: Path, out_dir: Path, vis: str, annotate: Callable[[np.ndarray, str], np.ndarray]
                   ) -> tuple[int, int]:  # fmt: skip
    """Write ``out_dir/<stem>_<vis>.mp4`` with ``annotate(rgb_frame, vis)`` applied to every frame.

    The video is written under a hidden name and renamed when complete (also when decoding stops before the frame
    count its header gives: the frames so far are kept). Returns (frames written, frames the header announces).
    """
    cv2 = opencv()
    fps, announced = video_header(path)
    final = out_dir / f"{path.stem}_{vis}.mp4"
    partial = out_dir / f".{final.stem}.partial.mp4"
    writer, frames = None, 0
    try:
        for _, frame in video_frames(path):
            rgb = annotate(frame, vis)
            if writer is None:
                size = (rgb.shape[1], rgb.shape[0])
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            frames += 1
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        if writer is not None:
            writer.release()
    os.replace(partial, final)
    return frames, announced
