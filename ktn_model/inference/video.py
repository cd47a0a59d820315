"""Videos (OpenCV and PyAV, the optional ``video`` extra): the one frame reader, and the annotated-video writer
(resumable segments, joined without re-encoding)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ktn_utils.atomic import atomic_write

DEFAULT_FPS = 25.0
# Frames per resumable segment of an annotated video: 10 s at 25 fps, so a killed run loses at most that much work,
# while an hour of video makes only 360 hidden segment files until they are joined.
SEGMENT_FRAMES = 250


def video_extra(module: str, needed: str):
    """The module ``module`` of the ``video`` extra, or a ValueError saying what ``needed`` it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"{needed}: pip install 'ktn[video]'") from None


def opencv():
    """The ``cv2`` module, or a ValueError saying how to install it."""
    return video_extra("cv2", "reading videos needs OpenCV")


def pyav():
    """The PyAV (``av``) module, which joins an annotated video's segments, or a ValueError saying how to install it."""
    return video_extra("av", "writing annotated videos needs PyAV")


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


class Resumable(Protocol):
    """Per-video state that must continue across a restart (``SteadyVideo``)."""

    def state(self) -> dict[str, np.ndarray]: ...

    def restore(self, arrays: dict[str, np.ndarray]) -> None: ...


def _segment(final: Path, k: int, suffix: str) -> Path:
    """Hidden file of segment ``k`` of the annotated video ``final``: ``.<final stem>.seg00003<suffix>``."""
    return final.parent / f".{final.stem}.seg{k:05d}{suffix}"


def finished_segments(final: Path, resumable: bool) -> int:
    """How many segments 0, 1, ... an earlier run finished (each with its state when ``resumable``, none without)."""
    k = 0
    while _segment(final, k, ".mp4").is_file() and _segment(final, k, ".npz").is_file() == resumable:
        k += 1
    return k


def annotate_video(path: Path, out_dir: Path, vis: str, annotate: Callable[[np.ndarray, str], np.ndarray],
                   resumable: Resumable | None = None) -> tuple[int, int]:  # fmt: skip
    """Write ``out_dir/<stem>_<vis>.mp4`` with ``annotate(rgb_frame, vis)`` applied to every frame.

    Frames are written in segments of ``SEGMENT_FRAMES``, each one finished atomically as a hidden file (after
    ``resumable``'s state at its end, when given): a restart keeps the finished segments, skips their frames
    (decoded, not annotated) and restores the state of the last one. When every frame is done the segments are
    joined (not re-encoded) into the final file and removed; also when decoding stops before the frame count the
    header gives (the frames so far are kept). Returns (frames written, frames the header announces).
    """
    cv2, av = opencv(), pyav()  # both before any work
    fps, announced = video_header(path)
    final = out_dir / f"{path.stem}_{vis}.mp4"
    kept = finished_segments(final, resumable is not None)
    if kept and resumable is not None:
        with np.load(_segment(final, kept - 1, ".npz"), allow_pickle=False) as arrays:
            resumable.restore(dict(arrays))
    writer, frames, partial = None, 0, final
    try:
        for frames, (_, frame) in enumerate(video_frames(path), start=1):
            segment = (frames - 1) // SEGMENT_FRAMES
            if segment < kept:
                continue
            rgb = annotate(frame, vis)
            if writer is None:
                partial = _segment(final, segment, ".partial.mp4")
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, rgb.shape[1::-1])
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if frames % SEGMENT_FRAMES == 0:
                _finish(writer, final, segment, resumable)
                writer = None  # the next frame opens the next segment
        if writer is not None:  # the last, shorter segment
            _finish(writer, final, segment, resumable)
            writer = None
    finally:
        if writer is not None:
            writer.release()
            partial.unlink(missing_ok=True)
    segments = range(-(-frames // SEGMENT_FRAMES))
    join_videos(av, [_segment(final, k, ".mp4") for k in segments], final)
    for k in segments:
        _segment(final, k, ".mp4").unlink()
        _segment(final, k, ".npz").unlink(missing_ok=True)
    return frames, announced


def _finish(writer, final: Path, k: int, resumable: Resumable | None) -> None:
    """Close segment ``k``'s writer, save ``resumable``'s state beside it, then rename the segment into place."""
    writer.release()
    if resumable is not None:
        state = resumable.state()
        atomic_write(_segment(final, k, ".npz"), lambda f: np.savez(f, **state))
    os.replace(_segment(final, k, ".partial.mp4"), _segment(final, k, ".mp4"))


def join_videos(av, parts: list[Path], final: Path) -> None:
    """Write ``final`` from the video packets of ``parts`` one after the other with PyAV (``av``), not re-encoded
    (each part's timestamps shifted by the durations before it); under a hidden name, then renamed."""
    partial = final.with_name(f".{final.stem}.partial.mp4")
    try:
        with av.open(str(partial), "w", format="mp4") as out:
            stream, offset = None, 0
            for part in parts:
                with av.open(str(part)) as source:
                    if stream is None:
                        stream = out.add_stream_from_template(source.streams.video[0])
                    end = offset
                    for packet in source.demux(source.streams.video[0]):
                        if packet.dts is None:  # the demuxer's flush packet
                            continue
                        packet.pts, packet.dts, packet.stream = packet.pts + offset, packet.dts + offset, stream
                        end = max(end, packet.pts + packet.duration)
                        out.mux(packet)
                    offset = end
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
