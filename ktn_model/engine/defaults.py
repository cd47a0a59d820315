"""Defaults the CLIs show in ``--help`` (torch-free, so that ``ktn demo --help`` and ``ktn infer`` start fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIN_SCORE = 0.8  # ``ktn infer`` and the demo's pictures
DEFAULT_VIS = ("dp_contour", "dp_segm", "dp_u", "dp_v", "bbox")  # the pictures ``ktn infer`` and the demo draw
DEFAULT_CSE_VIS = ("dp_vertex", "bbox")  # ``ktn infer``'s default pictures for a CSE model (docs/cse.md)


@dataclass(frozen=True)
class DemoSettings:
    """The demo's size and schedule; see ``docs/usage.md`` for the measured time."""

    out: Path = Path("output/demo")
    train_images: int = 200
    val_images: int = 24
    image_size: int = 192
    iterations: int = 600
    pictures: int = 4
    seed: int = 0
    # One thread: on a shared 2-core machine, two OpenMP threads per process slow a step down
    # several-fold whenever another process is busy; one thread degrades gracefully.
    threads: int = 1
