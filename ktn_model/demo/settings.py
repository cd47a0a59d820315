"""The demo's settings and defaults, which ``ktn demo --help`` shows (torch-free, so that ``--help`` starts fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
