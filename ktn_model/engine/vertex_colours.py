"""Colours of mesh vertices for CSE pictures (docs/cse.md, "`ktn infer` outputs"): by 3D position from a mesh file
the user provides, else a fixed colouring by vertex index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps

from ktn_utils.safe_pickle import safe_load

INDEX_COLOUR_MAP = "hsv"
GOLDEN = (5**0.5 - 1) / 2  # colour-map position step between consecutive vertex indices


def load_mesh_vertices(path: str | Path) -> np.ndarray:
    """(V, 3) float32 vertex positions from a mesh pickle with a ``vertices`` array (detectron2's
    ``smpl_27554.pkl``), read without running code; ValueError naming the file otherwise."""
    data = safe_load(path)
    vertices = np.asarray(data.get("vertices") if isinstance(data, dict) else None)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.issubdtype(vertices.dtype, np.number):
        raise ValueError(f"{path}: expected a mesh pickle with 'vertices' of shape (V, 3)")
    return vertices.astype(np.float32)


def vertex_colours(vertices: np.ndarray, xyz: np.ndarray | None = None) -> np.ndarray:
    """Vertex indices (any shape, >= 0) -> RGB in [0, 1] (shape + (3,)): the vertex's ``xyz`` (V, 3) scaled to
    [0, 1] per axis, or without a mesh the ``hsv`` colour map at the fractional part of index × GOLDEN (a fixed
    colouring in which consecutive indices differ); ValueError for an index the mesh lacks."""
    if xyz is None:
        return colormaps[INDEX_COLOUR_MAP](np.modf(vertices * GOLDEN)[0])[..., :3]
    if vertices.size and vertices.max() >= len(xyz):
        raise ValueError(f"vertex {int(vertices.max())} is not in the mesh ({len(xyz)} vertices)")
    low, high = xyz.min(0), xyz.max(0)
    return ((xyz - low) / np.where(high > low, high - low, 1))[vertices]
