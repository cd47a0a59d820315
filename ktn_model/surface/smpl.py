"""The SMPL template mesh (``v_template`` (6890, 3), ``f`` (13776, 3)) from a user-supplied model file.

SMPL is licence-restricted, so no model ships with KTN: pass the ``.pkl`` of the SMPL release
(e.g. ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``) or an ``.npz`` with the same keys. Pickles
are read without running any code: numpy arrays and builtins are rebuilt, every other class the
file names (chumpy, scipy.sparse) becomes an inert placeholder, which is enough to read the two
plain arrays needed here.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ktn_model.surface.correspond import Correspondence
from ktn_model.surface.uv_mesh import UVMesh
from ktn_utils.safe_pickle import RestrictedUnpickler

SMPL_FIELDS = ("v_template", "f")


@dataclass(frozen=True)
class SMPLTemplate:
    """``vertices`` (V, 3) float rest-pose template, ``faces`` (F, 3) 0-based vertex indices."""

    vertices: np.ndarray
    faces: np.ndarray


class _Inert:
    """Stands in for a class a pickle names: accepts any construction and state, runs nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state


class _InertUnpickler(RestrictedUnpickler):
    """``ktn_utils.safe_pickle``'s unpickler, with placeholders instead of refusals for unknown globals."""

    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except pickle.UnpicklingError:
            return type(name, (_Inert,), {"__module__": f"inert.{module}"})


def _read_pickle(path: Path) -> dict:
    try:
        data = _InertUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"{path}: unreadable pickle ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a SMPL model dict, got {type(data).__name__}")
    return data


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files if k in SMPL_FIELDS}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: unreadable .npz ({e})") from None


def load_smpl_template(path: str | Path) -> SMPLTemplate:
    """Read ``v_template`` and ``f`` from a SMPL ``.pkl`` or ``.npz``; a ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SMPL model not found")
    if path.suffix.lower() not in (".pkl", ".npz"):
        raise ValueError(f"{path}: a SMPL model is a .pkl or .npz file")
    data = _read_npz(path) if path.suffix.lower() == ".npz" else _read_pickle(path)
    missing = [k for k in SMPL_FIELDS if not isinstance(data.get(k), np.ndarray)]
    if missing:
        raise ValueError(f"{path}: missing array(s) {', '.join(missing)} (expected a SMPL model)")
    vertices, faces = np.asarray(data["v_template"], np.float64), np.asarray(data["f"])
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{path}: v_template and f must be V x 3 and F x 3, got {vertices.shape} and {faces.shape}")
    if faces.min(initial=0) < 0 or faces.max(initial=0) >= len(vertices):
        raise ValueError(f"{path}: f must index the {len(vertices)} template vertices (0-based)")
    return SMPLTemplate(vertices, faces.astype(np.int64))


def check_fits(mesh: UVMesh, template: SMPLTemplate, source: str | Path) -> None:
    """A ValueError naming ``source`` when the UV mesh refers to vertices the template lacks."""
    if mesh.smpl_vertex.max() >= len(template.vertices):
        raise ValueError(f"{source}: the UV data refers to SMPL vertex {mesh.smpl_vertex.max() + 1}, "
                         f"the model has {len(template.vertices)}")  # fmt: skip


def smpl_faces_of(mesh: UVMesh, template: SMPLTemplate) -> np.ndarray:
    """(F_uv,) row of ``template.faces`` with the same three SMPL vertices as each UV face (-1: none)."""
    count = len(template.vertices)

    def key(triples: np.ndarray) -> np.ndarray:
        s = np.sort(triples, axis=1)  # (F, 3) vertex order does not matter
        return (s[:, 0] * count + s[:, 1]) * count + s[:, 2]

    smpl_keys = key(template.faces)
    order = np.argsort(smpl_keys, kind="stable")
    wanted = key(mesh.face_smpl_vertices())
    pos = np.minimum(np.searchsorted(smpl_keys[order], wanted), len(order) - 1)
    return np.where(smpl_keys[order][pos] == wanted, order[pos], -1)


def surface_points(mesh: UVMesh, template: SMPLTemplate, corr: Correspondence) -> np.ndarray:
    """(n, 3) template points of the correspondences (NaN where ``face`` is -1)."""
    corners = template.vertices[mesh.face_smpl_vertices()[np.maximum(corr.face, 0)]]  # (n, 3 corners, 3)
    points = np.einsum("nk,nkc->nc", corr.bary, corners)
    return np.where((corr.face >= 0)[:, None], points, np.nan)
