"""Pictures of the patch confusion (the KTNv2 paper's Fig. 9): row-normalised heat maps and per-patch accuracy.

``confusion.png``: per model the share of each annotated patch's points (rows) predicted as background or as each
patch (columns), and with several models the difference of each to the first (red: more often than in the first).
``patch_accuracy.png``: per patch the share of its points predicted as that patch, one bar per model. matplotlib
(Agg) is imported only here; the files are written atomically and carry no software version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ktn_model.evaluation.parts import PATCH_NAMES
from ktn_utils.atomic import atomic_write

COLUMNS = ("background", *PATCH_NAMES)


def row_shares(confusion: np.ndarray) -> np.ndarray:
    """(24, 25) counts -> each row divided by its total (0 for a patch without points)."""
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)


def patch_accuracy(confusion: np.ndarray) -> np.ndarray:
    """(24,) share of each patch's points predicted as that patch (NaN without points)."""
    totals = confusion.sum(axis=1)
    hits = confusion[np.arange(len(PATCH_NAMES)), np.arange(1, len(PATCH_NAMES) + 1)]
    return np.divide(hits, totals, out=np.full(len(totals), np.nan), where=totals > 0)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, metadata={"Software": None}))
    finally:
        plt.close(fig)


def _heat(ax, values: np.ndarray, title: str, cmap: str, limits: tuple[float, float]):
    image = ax.imshow(values, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(len(COLUMNS)), COLUMNS, rotation=90, fontsize=6)
    ax.set_yticks(range(len(PATCH_NAMES)), PATCH_NAMES, fontsize=6)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("annotated", fontsize=8)
    return image


def draw_confusion(labels: list[str], confusions: list[np.ndarray], path: Path) -> Path:
    """``confusion.png``: each model's row-normalised matrix, then each later model minus the first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = [row_shares(c) for c in confusions]
    panels = [(f"{label}: share of the annotated patch's points", s, "viridis", (0.0, 1.0))
              for label, s in zip(labels, shares, strict=True)]  # fmt: skip
    panels += [(f"{label} − {labels[0]}", s - shares[0], "RdBu_r", (-1.0, 1.0))
               for label, s in zip(labels[1:], shares[1:], strict=True)]  # fmt: skip
    fig, axes = plt.subplots(1, len(panels), figsize=(8.5 * len(panels), 8), squeeze=False)
    for ax, (title, values, cmap, limits) in zip(axes[0], panels, strict=True):
        fig.colorbar(_heat(ax, values, title, cmap, limits), ax=ax, fraction=0.04)
    fig.tight_layout()
    return _save(fig, path)


def draw_accuracy(labels: list[str], confusions: list[np.ndarray], path: Path) -> Path:
    """``patch_accuracy.png``: per-patch accuracy bars, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / len(labels)
    x = np.arange(len(PATCH_NAMES))
    for k, (label, confusion) in enumerate(zip(labels, confusions, strict=True)):
        ax.bar(x + (k - (len(labels) - 1) / 2) * width, np.nan_to_num(patch_accuracy(confusion)), width, label=label)
    ax.set_xticks(x, PATCH_NAMES, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("points predicted as their patch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
