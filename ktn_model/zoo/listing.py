"""``ktn models``: the zoo as a table (name, task, backbone, published AP, size, whether it is cached)."""

from __future__ import annotations

from .cache import cached_path
from .catalog import MODELS

COLUMNS = ("name", "task", "backbone", "GPS AP", "GPSm AP", "box AP", "size (MB)", "cached")


def models_table(task: str = "") -> str:
    """One line per zoo model whose task contains ``task`` (case-insensitive; "" = all), text left-aligned, numbers
    right-aligned, under a header line."""
    rows = [(m.name, m.task, m.backbone, f"{m.gps_ap:.1f}", f"{m.gpsm_ap:.1f}", f"{m.box_ap:.1f}",
             f"{m.size_mb:.0f}", "yes" if cached_path(m).is_file() else "")
            for m in MODELS if task.lower() in m.task.lower()]
    if not rows:
        raise ValueError(f"no zoo model has task {task!r}; tasks: {', '.join(sorted({m.task for m in MODELS}))}")
    widths = [max(len(str(r[k])) for r in [COLUMNS, *rows]) for k in range(len(COLUMNS))]
    numeric = {3, 4, 5, 6}

    def line(row) -> str:
        cells = (f"{v:>{w}}" if k in numeric else f"{v:<{w}}" for k, (v, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells).rstrip()

    return "\n".join(line(r) for r in [COLUMNS, *rows])
