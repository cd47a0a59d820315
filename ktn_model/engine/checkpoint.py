"""Training checkpoints in OUTPUT_DIR: atomic writes, the last K kept, and exact resume.

A checkpoint is one ``torch.save`` dict: ``model`` (state dict), ``optimizer``, ``scheduler``,
``scaler`` (AMP, or None), ``iteration`` (iterations completed) and ``rng`` (one generator
snapshot per worker process, see :mod:`ktn_model.rng`). The data sampler position is the
iteration itself: the train loader is deterministic and is fast-forwarded on resume.
``OUTPUT_DIR/last_checkpoint`` names the newest file and ``OUTPUT_DIR/config.yaml`` holds the run's
config (``ktn train --resume`` and ``ktn infer`` read it; see ``docs/usage.md``).

Files are written under a hidden temporary name and renamed (``ktn_utils.atomic``); a process killed
mid-write leaves ``.model_0000010.pth.<random>.tmp``, which the next run in that folder removes.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from ktn_utils.atomic import atomic_write

PERIODIC_NAME = "model_{:07d}.pth"
FINAL_NAME = "model_final.pth"
LAST_POINTER = "last_checkpoint"
_PERIODIC_RE = re.compile(r"model_(\d{7})\.pth")
# Temporary files of atomic_write for this folder's own outputs: ".<name>.<random>.tmp".
_STALE_TEMP_RE = re.compile(r"\.(model_\d{7}\.pth|model_final\.pth|last_checkpoint|config\.yaml)\..+\.tmp")

logger = logging.getLogger(__name__)


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

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temp files a killed run left behind (only names of this folder's own pattern)."""
        stale = sorted(p for p in self.dir.glob(".*.tmp") if _STALE_TEMP_RE.fullmatch(p.name))
        for path in stale:
            path.unlink(missing_ok=True)
            logger.warning("removed %s, left by an interrupted checkpoint write", path)
        return stale

    def _prune(self) -> None:
        periodic = sorted(p for p in self.dir.iterdir() if _PERIODIC_RE.fullmatch(p.name))
        for old in periodic[: max(len(periodic) - self.max_to_keep, 0)]:
            old.unlink(missing_ok=True)
