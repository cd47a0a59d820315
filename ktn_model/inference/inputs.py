"""Inputs of ``ktn infer`` / ``texture`` / ``smpl``: files, folders, globs and videos in; images read ahead.

Images are decoded in one background thread ahead of the network (``read_ahead``); an unreadable image comes
back as the ``ImageReadError`` that names why, so the caller can skip it with one warning.
"""

from __future__ import annotations

import glob
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ktn_model.data.dataset import ImageReadError, read_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
READ_AHEAD = 4  # images decoded in the background ahead of the one the network is on


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
