"""Export a graph to other formats, and import the three official KTNv2 CRKG pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ktn_utils.atomic import atomic_write
from ktn_utils.safe_pickle import safe_load
from ktn_utils.versions import package_version

from .errors import KGError
from .graph import COMPONENTS, RELEASE_SHAPES, KnowledgeGraph, TaskGraph
from .provenance import file_record
from .vocabulary import TASKS, load_vocabulary

EXPORT_FORMATS = ("ktn-release", "npz", "graphml", "gexf", "csv")
RELEASE_FILES = {"kpt": "kpt_surf_crkg.pkl", "part": "part_surf_crkg.pkl", "person": "person_surf_crkg.pkl"}


def export_graph(graph: KnowledgeGraph, fmt: str, out: str | Path) -> list[Path]:
    """Write ``graph`` as ``fmt``; ``out`` is a folder for ktn-release and a file otherwise. Returns the paths."""
    if fmt not in EXPORT_FORMATS:
        raise KGError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    if fmt == "ktn-release":
        return [
            atomic_write(out / RELEASE_FILES[t], lambda f, t=t: pickle.dump(graph.matrix(t), f, protocol=4))
            for t in graph.tasks
        ]
    writers = {"npz": _write_npz, "graphml": _write_graphml, "gexf": _write_gexf, "csv": _write_csv}
    return [atomic_write(out, lambda f: writers[fmt](graph, f))]


def _write_npz(graph: KnowledgeGraph, f) -> None:
    """``{task}`` = combined matrix and ``{task}_{component}`` for every component present."""
    arrays = {}
    for task, g in graph.tasks.items():
        arrays[task] = g.matrix
        arrays.update({f"{task}_{c}": m for c, m in g.components.items() if m is not None})
    np.savez(f, **arrays)


def edge_table(graph: KnowledgeGraph):
    """Long table (pandas) of every non-zero edge: task, row index and node, column (= DensePose I) and
    surface, weight, then M_s, M_f, I (None where the recipe did not use the term)."""
    import pandas as pd

    records = []
    for task, g in graph.tasks.items():
        comps = {c: graph.component(task, c) for c in COMPONENTS}
        for r, s in zip(*np.nonzero(g.matrix), strict=True):
            rec = {"task": task, "row": int(r), "node": g.rows[r], "column": int(s), "surface": graph.surfaces[s]}
            rec["weight"] = float(g.matrix[r, s])
            rec.update({c: (None if m is None else float(m[r, s])) for c, m in comps.items()})
            records.append(rec)
    columns = ["task", "row", "node", "column", "surface", "weight", *COMPONENTS]
    return pd.DataFrame.from_records(records, columns=columns)


def _write_csv(graph: KnowledgeGraph, f) -> None:
    f.write(edge_table(graph).to_csv(index=False, float_format="%.17g", lineterminator="\n").encode())


def to_networkx(graph: KnowledgeGraph):
    """Directed bipartite graph: 2D nodes ``{task}:{row}:{name}`` → surface nodes ``I{s}:{name}``.

    Node attributes: task (surfaces: "surface"), kind ("2d" or "surface"), name, index; edge attributes:
    weight and every component present.
    """
    import networkx as nx

    g = nx.DiGraph(graph_version=graph.version, recipe=graph.recipe["name"])
    for s, name in enumerate(graph.surfaces):
        g.add_node(f"I{s}:{name}", task="surface", kind="surface", name=name, index=s)
    for e in edge_table(graph).to_dict("records"):
        src = f"{e['task']}:{e['row']}:{e['node']}"
        g.add_node(src, task=e["task"], kind="2d", name=e["node"], index=e["row"])
        attrs = {c: float(e[c]) for c in COMPONENTS if e[c] is not None and not np.isnan(e[c])}
        g.add_edge(src, f"I{e['column']}:{e['surface']}", weight=e["weight"], **attrs)
    return g


def _write_graphml(graph: KnowledgeGraph, f) -> None:
    import networkx as nx

    nx.write_graphml(to_networkx(graph), f)


def _write_gexf(graph: KnowledgeGraph, f) -> None:
    import networkx as nx

    nx.write_gexf(to_networkx(graph), f)


def import_release(folder: str | Path) -> KnowledgeGraph:
    """Official ``*_surf_crkg.pkl`` files (plain float64 arrays) → graph; kpt alone gives v1, all three v2."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KGError(f"{folder}: not a folder")
    present = [t for t in TASKS if (folder / RELEASE_FILES[t]).is_file()]
    if present not in (["kpt"], list(TASKS)):
        raise KGError(f"{folder}: expected {RELEASE_FILES['kpt']} alone or all of {', '.join(RELEASE_FILES.values())}")
    vocab = load_vocabulary()
    tasks = {
        t: TaskGraph(tuple(vocab.tasks[t].row_names()), _release_matrix(folder / RELEASE_FILES[t], t)) for t in present
    }
    provenance = {
        "source": "imported",
        "package_version": package_version(),
        "files": [file_record(folder / RELEASE_FILES[t]) for t in present],
    }
    surfaces = ("background", *(s.name for s in vocab.surfaces))
    return KnowledgeGraph("v1" if present == ["kpt"] else "v2", {"name": "imported"}, surfaces, tasks, provenance)


def _release_matrix(path: Path, task: str) -> np.ndarray:
    arr = safe_load(path, KGError)
    if not isinstance(arr, np.ndarray) or arr.shape != RELEASE_SHAPES[task] or arr.dtype.kind != "f":
        shape = getattr(arr, "shape", type(arr).__name__)
        raise KGError(f"{path}: expected a float array of shape {RELEASE_SHAPES[task]}, got {shape}")
    if not np.isfinite(arr).all():
        raise KGError(f"{path}: {np.count_nonzero(~np.isfinite(arr))} non-finite values (NaN or inf)")
    return arr.astype(np.float64)
