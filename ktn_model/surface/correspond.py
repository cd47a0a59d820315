"""Surface points (I, U, V) -> the face of DensePose's UV mesh that contains them, with barycentrics.

This is DensePose's ``IUV2FBC`` done for n points at once: the face of patch I whose UV triangle
contains (U, V), else (outside every triangle) the nearest face corner with barycentric one-hot on
it. Look-ups are vectorised: a uniform grid of ``cells`` x ``cells`` buckets per patch lists the faces
whose UV bounding box meets each bucket, every point is tested against the faces of its bucket in
one array operation, and a KD-tree over the face corners (patches set ``PATCH_GAP`` apart so that
they never mix) answers the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ktn_model.data.meta import NUM_PATCHES
from ktn_model.surface.uv_mesh import UVMesh

DEFAULT_CELLS = 64
PATCH_GAP = 3.0  # > sqrt(2): a point's nearest corner on its own patch beats every other patch
INSIDE_TOLERANCE = 1e-9  # barycentrics above -this count as inside (points on shared edges)
CHUNK = 1 << 14  # points tested per array operation (bounds memory at chunk x faces-per-bucket)


@dataclass(frozen=True)
class Correspondence:
    """Per point: ``face`` (n,) row of the UV mesh's faces (-1: patch without faces), ``bary`` (n, 3)
    barycentrics in that face's corner order, ``inside`` (n,) False where the nearest corner was used."""

    face: np.ndarray
    bary: np.ndarray
    inside: np.ndarray


def _barycentrics(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 3) barycentrics of points (..., 2) in triangles (..., 3, 2); NaN for degenerate triangles."""
    a = corners[..., 0, :]
    e1, e2, d = corners[..., 1, :] - a, corners[..., 2, :] - a, points - a  # (..., 2) each
    den = e1[..., 0] * e2[..., 1] - e2[..., 0] * e1[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        l1 = (d[..., 0] * e2[..., 1] - e2[..., 0] * d[..., 1]) / den
        l2 = (e1[..., 0] * d[..., 1] - d[..., 0] * e1[..., 1]) / den
    return np.stack([1.0 - l1 - l2, l1, l2], axis=-1)


class SurfaceLocator:
    """Vectorised (I, U, V) -> (face, barycentrics) on a ``UVMesh``."""

    def __init__(self, mesh: UVMesh, cells: int = DEFAULT_CELLS):
        self.mesh, self.cells = mesh, cells
        self.corners = np.stack([mesh.u[mesh.faces], mesh.v[mesh.faces]], axis=-1)  # (F, 3, 2) UV triangles
        self._build_buckets()
        offset = (mesh.face_patch[:, None] - 1) * PATCH_GAP  # (F, 1) shift of each face's patch along U
        planar = self.corners + np.stack([offset, np.zeros_like(offset)], axis=-1)  # (F, 3, 2)
        self.corner_tree = cKDTree(planar.reshape(-1, 2))
        self.has_faces = np.bincount(mesh.face_patch, minlength=NUM_PATCHES + 1) > 0

    def _bucket(self, patch: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        return ((patch - 1) * self.cells + cy) * self.cells + cx

    def _cell(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(t * self.cells), 0, self.cells - 1).astype(np.int64)

    def _build_buckets(self) -> None:
        """CSR lists ``bucket_start`` (B+1,), ``bucket_faces``: faces whose UV box meets each bucket."""
        pad = INSIDE_TOLERANCE
        low = self._cell(self.corners.min(1) - pad)  # (F, 2) first cell column, row
        high = self._cell(self.corners.max(1) + pad)  # (F, 2) last cell column, row
        span = high - low + 1  # (F, 2)
        count = span[:, 0] * span[:, 1]
        face = np.repeat(np.arange(len(count)), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)  # rank inside the face's cells
        cx = low[face, 0] + k % span[face, 0]
        cy = low[face, 1] + k // span[face, 0]
        bucket = self._bucket(self.mesh.face_patch[face], cx, cy)
        order = np.argsort(bucket, kind="stable")
        self.bucket_faces = face[order]
        sizes = np.bincount(bucket, minlength=NUM_PATCHES * self.cells**2)
        self.bucket_start = np.concatenate([[0], np.cumsum(sizes)])

    def locate(self, patch: np.ndarray, u: np.ndarray, v: np.ndarray) -> Correspondence:
        """Faces and barycentrics of n points: ``patch`` (n,) 1..24, ``u``, ``v`` (n,) in [0, 1]."""
        patch = np.asarray(patch, np.int64)
        points = np.stack([np.asarray(u, np.float64), np.asarray(v, np.float64)], axis=1)  # (n, 2)
        face = np.full(len(patch), -1, np.int64)
        bary = np.zeros((len(patch), 3))
        for s in range(0, len(patch), CHUNK):
            part = slice(s, s + CHUNK)
            face[part], bary[part] = self._inside(patch[part], points[part])
        inside = face >= 0
        outside = ~inside & self.has_faces[patch]
        if outside.any():
            face[outside], bary[outside] = self._nearest_corner(patch[outside], points[outside])
        return Correspondence(face, bary, inside)

    def _inside(self, patch: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best containing face (-1 if none) and its barycentrics for points of one chunk."""
        bucket = self._bucket(patch, self._cell(points[:, 0]), self._cell(points[:, 1]))
        start, size = self.bucket_start[bucket], np.diff(self.bucket_start)[bucket]
        slot = np.arange(max(int(size.max(initial=0)), 1))
        valid = slot[None] < size[:, None]  # (n, K) candidate slots in use
        candidates = self.bucket_faces[np.minimum(start[:, None] + slot[None], len(self.bucket_faces) - 1)]  # (n, K)
        bary = _barycentrics(self.corners[candidates], points[:, None, :])  # (n, K, 3)
        score = np.where(valid, np.nan_to_num(bary.min(-1), nan=-np.inf), -np.inf)  # (n, K) smallest barycentric
        best = np.argmax(score, axis=1)
        rows = np.arange(len(patch))
        found = score[rows, best] >= -INSIDE_TOLERANCE
        chosen = np.clip(bary[rows, best], 0.0, 1.0)  # (n, 3); renormalised below
        chosen /= np.maximum(chosen.sum(1, keepdims=True), np.finfo(float).tiny)
        return np.where(found, candidates[rows, best], -1), np.where(found[:, None], chosen, 0.0)

    def _nearest_corner(self, patch: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face of the nearest corner on the point's patch, barycentric 1 on that corner."""
        planar = points + np.stack([(patch - 1) * PATCH_GAP, np.zeros(len(patch))], axis=1)
        _, nearest = self.corner_tree.query(planar)
        bary = np.zeros((len(patch), 3))
        bary[np.arange(len(patch)), nearest % 3] = 1.0
        return nearest // 3, bary

    def nearest_vertex(self, corr: Correspondence) -> np.ndarray:
        """(n,) SMPL vertex of the corner with the largest barycentric (-1 where ``face`` is -1)."""
        uv_vertex = self.mesh.faces[np.maximum(corr.face, 0), np.argmax(corr.bary, axis=1)]
        return np.where(corr.face >= 0, self.mesh.smpl_vertex[uv_vertex], -1)
