"""Read-only views of graphs for ``ktn-kg inspect`` and ``ktn-kg diff``: strongest edges, differences, heat map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ktn_utils.atomic import atomic_write

from .errors import KGError
from .exchange import edge_table
from .graph import KnowledgeGraph


def strongest_edges(graph: KnowledgeGraph, task: str, node: str | None = None, top: int = 5):
    """Per row node of ``task`` (or only ``node``), its ``top`` heaviest edges with M_s, M_f, I (pandas)."""
    graph.matrix(task)  # raises a clear error for a task the graph lacks
    table = edge_table(graph)
    table = table[table["task"] == task]
    if node is not None:
        if node not in graph.names(task):
            raise KGError(f"no node {node!r} in the {task} graph; nodes: {', '.join(graph.names(task))}")
        table = table[table["node"] == node]
    table = table.sort_values(["row", "weight", "column"], ascending=[True, False, True], kind="stable")
    return table.groupby("row", sort=True).head(top).reset_index(drop=True)


def diff_edges(a: KnowledgeGraph, b: KnowledgeGraph, tol: float = 0.0):
    """Edges (pandas) of the tasks both graphs hold whose weight differs by more than ``tol``."""
    import pandas as pd

    rows = []
    for task in (t for t in a.tasks if t in b.tasks):
        ma, mb = a.matrix(task), b.matrix(task)
        for r, s in zip(*np.nonzero(np.abs(ma - mb) > tol), strict=True):
            rows.append((task, a.names(task)[r], int(s), a.surfaces[s], ma[r, s], mb[r, s], mb[r, s] - ma[r, s]))
    return pd.DataFrame(rows, columns=["task", "node", "column", "surface", "a", "b", "b - a"])


def diff_provenance(a: KnowledgeGraph, b: KnowledgeGraph) -> list[tuple[str, object, object]]:
    """(key path, value in a, value in b) for every differing leaf of version, recipe and provenance."""
    left, right = _described(a), _described(b)
    return [(k, left.get(k), right.get(k)) for k in sorted(left.keys() | right.keys()) if left.get(k) != right.get(k)]


def _described(graph: KnowledgeGraph) -> dict[str, object]:
    """Flat {"provenance.embedding.backend": ..., ...} view of everything but the matrices."""
    meta = {"graph_version": graph.version, "recipe": graph.recipe, "tasks": ", ".join(graph.tasks)}
    return _flatten({**meta, "provenance": graph.provenance})


def _flatten(obj, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: obj}


def provenance_lines(graph: KnowledgeGraph) -> list[tuple[str, str]]:
    """Flattened (key, value) lines describing how the graph was made."""
    return [(k, str(v)) for k, v in _described(graph).items()]


def save_heatmap(graph: KnowledgeGraph, task: str, out: str | Path) -> Path:
    """PNG heat map of the ``task`` matrix with row node names and "I: surface" column labels (Agg backend).

    The folder of ``out`` must exist (a mistyped path is refused rather than created)."""
    if not Path(out).parent.is_dir():
        raise KGError(f"{out}: no such folder {Path(out).parent}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix, rows = graph.matrix(task), graph.names(task)
    fig, ax = plt.subplots(figsize=(12, 2 + 0.35 * len(rows)))
    image = ax.imshow(matrix, cmap="viridis", aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), [f"{i}: {s}" for i, s in enumerate(graph.surfaces)], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("DensePose surface (I)")
    ax.set_ylabel(f"{task} node")
    ax.set_title(f"CRKG {task} ({graph.version}, recipe {graph.recipe['name']})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    try:
        return atomic_write(out, lambda f: fig.savefig(f, format="png", metadata={"Software": None}))
    finally:
        plt.close(fig)
