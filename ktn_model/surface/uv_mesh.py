"""DensePose's UV-unwrapped SMPL mesh, ``UV_Processed.mat`` (DensePoseData/UV_data of the DensePose release).

Fields (MATLAB, 1-based): ``All_FaceIndices`` (F, 1) patch 1..24 of each face, ``All_Faces`` (F, 3)
indices into the UV vertex list, ``All_U_norm`` and ``All_V_norm`` (N, 1) per UV vertex and
``All_vertices`` (1, N) the SMPL vertex (1..6890) of each UV vertex; F = 13774, N = 7829 in the release.
Vertices on the UV seams appear once per chart, so several UV vertices share one SMPL vertex.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from ktn_model.data.meta import NUM_PATCHES
from ktn_utils.atomic import atomic_write

UV_FIELDS = ("All_FaceIndices", "All_Faces", "All_U_norm", "All_V_norm", "All_vertices")


@dataclass(frozen=True)
class UVMesh:
    """0-based: ``face_patch`` (F,) 1..24, ``faces`` (F, 3) into the N UV vertices, ``u``, ``v`` (N,) in
    [0, 1], ``smpl_vertex`` (N,) SMPL vertex of each UV vertex."""

    face_patch: np.ndarray
    faces: np.ndarray
    u: np.ndarray
    v: np.ndarray
    smpl_vertex: np.ndarray

    def face_smpl_vertices(self) -> np.ndarray:
        """(F, 3) SMPL vertex indices of each face's corners, in the face's corner order."""
        return self.smpl_vertex[self.faces]


def _vector(data: dict, key: str, path: Path) -> np.ndarray:
    values = np.asarray(data[key])
    if values.ndim != 2 or 1 not in values.shape:
        raise ValueError(f"{path}: {key} must be a 1 x N or N x 1 array, got shape {values.shape}")
    return values.ravel()


def load_uv_data(path: str | Path) -> UVMesh:
    """Read and check ``UV_Processed.mat``; a ValueError naming the file and the first problem found."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: UV data not found")
    try:
        data = scipy.io.loadmat(path)
    except Exception as e:  # noqa: BLE001 (scipy raises MatReadError, IndexError, ValueError... for a damaged file)
        raise ValueError(f"{path}: not a readable MATLAB file ({str(e) or type(e).__name__})") from None
    missing = [k for k in UV_FIELDS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing field(s) {', '.join(missing)} (expected the DensePose UV_Processed.mat)")
    patch = _vector(data, "All_FaceIndices", path).astype(np.int64)
    faces = np.asarray(data["All_Faces"])
    u, v = _vector(data, "All_U_norm", path), _vector(data, "All_V_norm", path)
    smpl = _vector(data, "All_vertices", path).astype(np.int64)
    if len(patch) == 0:
        raise ValueError(f"{path}: the UV mesh has no faces")
    if faces.ndim != 2 or faces.shape[1:] != (3,):
        raise ValueError(f"{path}: All_Faces must be F x 3 (three UV vertices per face), got {faces.shape}")
    if len(faces) != len(patch):
        raise ValueError(f"{path}: All_FaceIndices has {len(patch)} entries and All_Faces {len(faces)} rows; "
                         f"both must have one per face")  # fmt: skip
    if not len(u) == len(v) == len(smpl):
        raise ValueError(f"{path}: All_U_norm, All_V_norm and All_vertices differ in length")
    if patch.min(initial=1) < 1 or patch.max(initial=1) > NUM_PATCHES:
        raise ValueError(f"{path}: All_FaceIndices must be patch numbers 1..{NUM_PATCHES}")
    if faces.min(initial=1) < 1 or faces.max(initial=1) > len(u):
        raise ValueError(f"{path}: All_Faces must index the {len(u)} UV vertices (1-based)")
    if smpl.min(initial=1) < 1:
        raise ValueError(f"{path}: All_vertices must be 1-based SMPL vertex indices")
    return UVMesh(patch, faces.astype(np.int64) - 1, u.astype(np.float64), v.astype(np.float64), smpl - 1)


def save_uv_data(path: str | Path, mesh: UVMesh) -> Path:
    """Write ``mesh`` as ``UV_Processed.mat`` with the release's field names, shapes and 1-based indices."""
    fields = {
        "All_FaceIndices": mesh.face_patch[:, None].astype(np.float64),
        "All_Faces": (mesh.faces + 1).astype(np.float64),
        "All_U_norm": mesh.u[:, None],
        "All_V_norm": mesh.v[:, None],
        "All_vertices": (mesh.smpl_vertex + 1)[None].astype(np.float64),
    }
    return atomic_write(path, lambda f: scipy.io.savemat(f, fields, do_compression=True))
