"""Training metrics: one JSON object per line in ``OUTPUT_DIR/metrics.jsonl``, and TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

from ktn_utils.atomic import atomic_write

METRICS_FILE = "metrics.jsonl"


class MetricsWriter:
    """Appends ``{"iteration": i, name: value, ...}`` records; mirrors them as TensorBoard scalars.

    Nothing is created before the first record: a run that fails before its first iteration leaves
    no ``metrics.jsonl`` and no TensorBoard events file.
    """

    def __init__(self, output_dir: str | Path, tensorboard: bool = True):
        self.path = Path(output_dir) / METRICS_FILE
        self.tensorboard = tensorboard
        self._tb = None

    def drop_after(self, iteration: int) -> int:
        """Remove the records of iterations after ``iteration`` (a resumed run writes them again).

        Returns how many records were removed; the file is rewritten atomically, and only if needed.
        """
        if not self.path.is_file():
            return 0
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line)["iteration"] <= iteration]
        if len(kept) != len(lines):
            atomic_write(self.path, lambda f: f.write("".join(kept).encode()))
        return len(lines) - len(kept)

    def write(self, iteration: int, scalars: dict[str, float]) -> None:
        """Record ``scalars`` (flat names, ``/`` for groups) at ``iteration``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({"iteration": iteration, **scalars}) + "\n")
        if self.tensorboard and self._tb is None:
            self._tb = _summary_writer(self.path.parent)
        if self._tb is not None:
            for name, value in scalars.items():
                self._tb.add_scalar(name, value, iteration)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _summary_writer(log_dir: Path):
    from torch.utils.tensorboard import SummaryWriter  # imported lazily: pulls in tensorboard

    return SummaryWriter(log_dir=str(log_dir))


def flatten_metrics(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{"densepose_gps": {"AP": 1.0}}`` -> ``{"densepose_gps/AP": 1.0}``."""
    return {f"{group}/{name}": float(value) for group, values in results.items() for name, value in values.items()}
