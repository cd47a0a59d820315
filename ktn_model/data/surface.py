"""The synthetic body's evaluation mesh, geodesic distances and UV symmetry tables.

The file formats are those of the real evaluation data (docs/densepose_format.md, "Evaluation data files").

The mesh is a ``grid`` x ``grid`` lattice in (U, V) on each of the 24 patches, placed on the body in
its rest pose (``body.rest_pose``). Lattice points at the same 3D position (the seams between the
halves of a segment) are one mesh vertex: ``index`` maps the N subdivision vertices to M <= N mesh
vertices, as ``SMPL_SUBDIV_TRANSFORM.mat`` does for SMPL. Geodesic distances are shortest paths on
a graph whose edges join lattice neighbours on a patch and any two vertices of different patches
closer than ``JOIN_RADIUS`` (the joints), with 3D edge lengths in metres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, shortest_path
from scipy.spatial import cKDTree

from ktn_model.data import body
from ktn_model.data.meta import DP_FRAME, NUM_PATCHES

JOIN_RADIUS = 0.06
DEFAULT_GRID = 9


@dataclass(frozen=True)
class SurfaceMesh:
    """N subdivision vertices: ``part`` (N,) int 1..24, ``u``, ``v`` (N,), ``vertex`` (N, 3),
    ``faces`` (F, 3) 0-based, ``index`` (N,) 0-based mesh ids, ``pdist`` (M(M-1)/2,) float32
    condensed geodesics in the column-major upper-triangle order of ``Pdist_matrix``."""

    part: np.ndarray
    u: np.ndarray
    v: np.ndarray
    vertex: np.ndarray
    faces: np.ndarray
    index: np.ndarray
    pdist: np.ndarray


def _lattice(grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Part, U, V (N,) of the lattice, part-major, V-major inside a part."""
    steps = np.linspace(0.0, 1.0, grid)
    vv, uu = np.meshgrid(steps, steps, indexing="ij")
    part = np.repeat(np.arange(1, NUM_PATCHES + 1), grid * grid)
    return part, np.tile(uu.ravel(), NUM_PATCHES), np.tile(vv.ravel(), NUM_PATCHES)


def _lattice_edges(grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Lattice neighbour pairs (right, down, both diagonals) on every patch, as index arrays."""
    ids = np.arange(grid * grid).reshape(grid, grid)
    pairs = [(ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :]), (ids[:-1, :-1], ids[1:, 1:]),
             (ids[:-1, 1:], ids[1:, :-1])]  # fmt: skip
    a = np.concatenate([p.ravel() for p, _ in pairs])
    b = np.concatenate([q.ravel() for _, q in pairs])
    offsets = np.arange(NUM_PATCHES)[:, None] * grid * grid
    return (a[None] + offsets).ravel(), (b[None] + offsets).ravel()


def _faces(grid: int) -> np.ndarray:
    """Two triangles per lattice cell on every patch, (F, 3) 0-based subdivision indices."""
    ids = np.arange(grid * grid).reshape(grid, grid)
    a, b, c, d = ids[:-1, :-1].ravel(), ids[:-1, 1:].ravel(), ids[1:, :-1].ravel(), ids[1:, 1:].ravel()
    cell = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    offsets = np.arange(NUM_PATCHES)[:, None, None] * grid * grid
    return (cell[None] + offsets).reshape(-1, 3)


def _geodesics(points: np.ndarray, part: np.ndarray, lattice: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """All-pairs shortest paths (M, M) on the lattice + joint graph over mesh ``points`` (M, 3)."""
    cross = cKDTree(points).query_pairs(JOIN_RADIUS, output_type="ndarray")
    cross = cross[part[cross[:, 0]] != part[cross[:, 1]]]
    a = np.concatenate([lattice[0], cross[:, 0]])
    b = np.concatenate([lattice[1], cross[:, 1]])
    pairs = np.unique(np.sort(np.stack([a, b], 1), axis=1), axis=0)  # coo would sum duplicates
    a, b = pairs[pairs[:, 0] != pairs[:, 1]].T
    weight = np.linalg.norm(points[a] - points[b], axis=1)
    graph = coo_matrix((weight, (a, b)), shape=(len(points),) * 2).tocsr()
    n_comp, _ = connected_components(graph, directed=False)
    if n_comp != 1:
        raise RuntimeError(f"synthetic body mesh is not connected ({n_comp} components)")
    return shortest_path(graph, method="D", directed=False)


def build_mesh(grid: int = DEFAULT_GRID) -> SurfaceMesh:
    """The rest-pose evaluation mesh with ``24 * grid**2`` subdivision vertices (computed once per grid)."""
    return _build_mesh(int(grid))


@functools.lru_cache(maxsize=4)
def _build_mesh(grid: int) -> SurfaceMesh:
    part, u, v = _lattice(grid)
    vertex = body.iuv_to_point(body.pose_body(body.rest_pose()), part, u, v)
    _, first, index = np.unique(np.round(vertex, 6), axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # mesh ids in order of first appearance
    index = np.argsort(order)[index.ravel()]
    mesh_points = vertex[first[order]]
    mesh_part = part[first[order]]
    lattice = tuple(index[e] for e in _lattice_edges(grid))
    dist = _geodesics(mesh_points, mesh_part, lattice)
    hi, lo = np.tril_indices(len(mesh_points), -1)  # k = hi(hi-1)/2 + lo
    return SurfaceMesh(part, u, v, vertex, _faces(grid), index, dist[hi, lo].astype(np.float32))


def uv_symmetry_tables() -> tuple[np.ndarray, np.ndarray]:
    """``U_transforms``, ``V_transforms`` (24, 256, 256): the mirrored U and V of table cell
    (row = floor(V*255), col = floor(U*255)), evaluated at the cell centre (docs/densepose_format.md,
    "Horizontal flip")."""
    centres = np.clip((np.arange(DP_FRAME) + 0.5) / (DP_FRAME - 1), 0.0, 1.0)
    v_grid, u_grid = np.meshgrid(centres, centres, indexing="ij")
    mu, mv = body.mirror_uv(u_grid, v_grid)
    mu, mv = np.clip(mu, 0.0, 1.0), np.clip(mv, 0.0, 1.0)
    return np.repeat(mu[None], NUM_PATCHES, 0), np.repeat(mv[None], NUM_PATCHES, 0)
