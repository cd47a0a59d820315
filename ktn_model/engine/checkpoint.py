"""Training checkpoints in OUTPUT_DIR: atomic writes, the last K kept, and exact resume.

A checkpoint is one ``torch.save`` dict: ``model`` (state dict), ``optimizer``, ``scheduler``,
``scaler`` (AMP, or None), ``iteration`` (iterations completed) and ``rng`` (one generator
snapshot per worker process, see :mod:`ktn_model.engine.rng`). The data sampler position is the
iteration itself: the train loader is deterministic and is fast-forwarded on resume.
``OUTPUT_DIR/last_checkpoint`` names the newest file.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ktn_kg.atomic import atomic_write

PERIODIC_NAME = "model_{:07d}.pth"
FINAL_NAME = "model_final.pth"
LAST_POINTER = "last_checkpoint"
_PERIODIC_RE = re.compile(r"model_(\d{7})\.pth")


class Checkpointer:
    """Writes and finds checkpoints in one directory, keeping the newest ``max_to_keep`` periodic ones."""

    def __init__(self, output_dir: str | Path, max_to_keep: int = 3):
        self.dir = Path(output_dir)
        self.max_to_keep = max_to_keep

    def save(self, state: dict, final: bool = False) -> Path:
        """Write ``state`` as ``model_<iteration>.pth`` (or ``model_final.pth``) and point to it."""
        name = FINAL_NAME if final else PERIODIC_NAME.format(state["iteration"])
        path = self.dir / name
        atomic_write(path, lambda f: torch.save(state, f))
        atomic_write(self.dir / LAST_POINTER, lambda f: f.write(f"{name}\n".encode()))
        self._prune()
        return path

    def latest(self) -> Path | None:
        """The checkpoint named by ``last_checkpoint``, or None when there is none."""
        pointer = self.dir / LAST_POINTER
        if not pointer.is_file():
            return None
        path = self.dir / pointer.read_text().strip()
        if not path.is_file():
            raise FileNotFoundError(f"{pointer}: names {path.name}, which does not exist")
        return path

    def _prune(self) -> None:
        periodic = sorted(p for p in self.dir.iterdir() if _PERIODIC_RE.fullmatch(p.name))
        for old in periodic[: max(len(periodic) - self.max_to_keep, 0)]:
            old.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint without executing code (``weights_only``); a one-line error if unusable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several unrelated types for a corrupt file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable checkpoint ({reason})") from None
