"""The DensePose evaluation-data files: subdivided SMPL charts, the mesh map and geodesic distances.

``SMPL_subdiv.mat`` (``U_subdiv``, ``V_subdiv``, ``Part_ID_subdiv``: N values),
``SMPL_SUBDIV_TRANSFORM.mat`` (``index``: N 1-based mesh ids) and ``Pdist_matrix.pkl`` (a pickled
dict whose ``Pdist_matrix`` is the condensed geodesic distance vector of M mesh vertices, length
M(M−1)/2, ordered so that the pair (lo, hi), lo < hi, 0-based, sits at hi(hi−1)/2 + lo).
See docs/densepose_format.md, "Evaluation data files".
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from ktn_model.data.meta import NUM_PATCHES
from ktn_utils.atomic import atomic_write
from ktn_utils.safe_pickle import RestrictedUnpickler

SUBDIV_FILE = "SMPL_subdiv.mat"
TRANSFORM_FILE = "SMPL_SUBDIV_TRANSFORM.mat"
PDIST_FILE = "Pdist_matrix.pkl"
# Largest (queries × part vertices) block handled at once by the closest-vertex search.
_CHUNK_ELEMENTS = 1 << 22


def _load_mat(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named variables of a MATLAB v5 file, each flattened to 1-D (1×N and N×1 both accepted)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: evaluation-data file not found")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several unrelated types for a damaged file
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    missing = [k for k in keys if k not in mat]
    if missing:
        raise ValueError(f"{path}: missing variable(s) {', '.join(missing)}")
    return {k: np.asarray(mat[k]).ravel() for k in keys}


def _as_index(values: np.ndarray, path: Path, key: str, low: int, high: int) -> np.ndarray:
    """Integer-valued data (int or float dtype) as int64, checked to lie in [low, high]."""
    if values.size and not np.all(np.isfinite(values) & (np.round(values) == values)):
        raise ValueError(f"{path}: {key} must hold whole numbers")
    out = values.astype(np.int64)
    if out.size and (out.min() < low or out.max() > high):
        raise ValueError(f"{path}: {key} values must lie in {low}..{high}, found {out.min()}..{out.max()}")
    return out


def load_pdist(path: Path) -> np.ndarray:
    """The condensed geodesic distance vector (1-D) from a pickle, loaded without executing code."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: evaluation-data file not found")
    try:
        with open(path, "rb") as f:
            data = RestrictedUnpickler(f, encoding="latin1").load()  # Python-2 pickle
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a valid distance pickle ({e})") from None
    if not isinstance(data, dict) or "Pdist_matrix" not in data:
        raise ValueError(f"{path}: expected a dict with key 'Pdist_matrix'")
    return np.asarray(data["Pdist_matrix"]).ravel()


def mesh_size(num_pairs: int, path: Path) -> int:
    """M such that M(M−1)/2 == num_pairs; a ValueError naming ``path`` when there is none."""
    m = (1 + math.isqrt(1 + 8 * num_pairs)) // 2
    if m * (m - 1) // 2 != num_pairs or m < 2:
        raise ValueError(f"{path}: Pdist_matrix has {num_pairs} entries, which is not M(M-1)/2 for any M >= 2")
    return m


def condensed_index(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Position of the 0-based vertex pair (lo, hi), lo < hi, in the distance vector."""
    hi = np.asarray(hi, dtype=np.int64)
    return hi * (hi - 1) // 2 + np.asarray(lo, dtype=np.int64)


@dataclass
class EvalData:
    """Surface charts and geodesic distances of the evaluation mesh.

    ``part_id``, ``u``, ``v``, ``mesh_id``: (N,) per subdivided vertex (part 1..24, chart
    coordinates, 1-based mesh id); ``pdist``: (M(M−1)/2,) condensed distances; ``num_mesh``: M.
    """

    part_id: np.ndarray
    u: np.ndarray
    v: np.ndarray
    mesh_id: np.ndarray
    pdist: np.ndarray
    num_mesh: int
    _part_vertices: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        order = np.argsort(self.part_id, kind="stable")
        bounds = np.searchsorted(self.part_id[order], np.arange(NUM_PATCHES + 2))
        self._part_vertices = [order[bounds[p] : bounds[p + 1]] for p in range(NUM_PATCHES + 1)]
        # Each part's vertices in file order, in rows padded with +inf coordinates: (25, widest part).
        self._counts = np.array([len(c) for c in self._part_vertices])
        width = max(1, int(self._counts.max()))
        self._pad_u, self._pad_v = np.full((2, NUM_PATCHES + 1, width), np.inf)
        self._pad_index = np.zeros((NUM_PATCHES + 1, width), dtype=np.int64)
        for p, cand in enumerate(self._part_vertices):
            self._pad_u[p, : len(cand)], self._pad_v[p, : len(cand)] = self.u[cand], self.v[cand]
            self._pad_index[p, : len(cand)] = cand

    def closest_vertices(self, part: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """1-based subdiv vertex nearest in (U, V) within each point's part; 0 where there is none.

        Euclidean distance, ties to the first vertex in file order; labels outside
        1..24 (or parts without vertices) get none. Shapes: all (P,). All points are searched at once
        against their part's padded row (the padding is +inf away).
        """
        part = np.asarray(part)
        out = np.zeros(part.shape, dtype=np.int64)
        valid = (part >= 1) & (part <= NUM_PATCHES)
        valid[valid] = self._counts[part[valid]] > 0
        rows = np.flatnonzero(valid)
        step = max(1, _CHUNK_ELEMENTS // self._pad_u.shape[1])
        for start in range(0, len(rows), step):
            r = rows[start : start + step]
            p = part[r]
            dist = np.sqrt((self._pad_u[p] - u[r, None]) ** 2 + (self._pad_v[p] - v[r, None]) ** 2)
            out[r] = self._pad_index[p, np.argmin(dist, axis=1)] + 1
        return out

    def geodesic(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Geodesic distance between 1-based mesh ids (0 = none); +inf where ``b`` is none, 0 where equal."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        lo, hi = np.minimum(a, b) - 1, np.maximum(a, b) - 1
        known = (b > 0) & (a > 0) & (a != b)
        out = np.where(b > 0, 0.0, np.inf)
        out[known] = self.pdist[condensed_index(lo[known], hi[known])]
        return out


def load_eval_data(directory: str | Path) -> EvalData:
    """Read the three evaluation files from ``directory``, checking their consistency."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: evaluation-data directory not found")
    subdiv_path, transform_path, pdist_path = (directory / n for n in (SUBDIV_FILE, TRANSFORM_FILE, PDIST_FILE))
    subdiv = _load_mat(subdiv_path, ("U_subdiv", "V_subdiv", "Part_ID_subdiv"))
    pdist = load_pdist(pdist_path)
    num_mesh = mesh_size(pdist.size, pdist_path)
    index = _as_index(_load_mat(transform_path, ("index",))["index"], transform_path, "index", 1, num_mesh)
    part_id = _as_index(subdiv["Part_ID_subdiv"], subdiv_path, "Part_ID_subdiv", 1, NUM_PATCHES)
    u, v = (subdiv[k].astype(np.float64) for k in ("U_subdiv", "V_subdiv"))
    if not (len(u) == len(v) == len(part_id) == len(index)):
        raise ValueError(
            f"{subdiv_path}: U_subdiv/V_subdiv/Part_ID_subdiv have {len(u)}/{len(v)}/{len(part_id)} values "
            f"but {transform_path.name} maps {len(index)} vertices"
        )
    return EvalData(part_id=part_id, u=u, v=v, mesh_id=index, pdist=pdist, num_mesh=num_mesh)


def as_eval_data(source: str | Path | EvalData) -> EvalData:
    """``source`` itself when already loaded, else ``load_eval_data(source)``."""
    return source if isinstance(source, EvalData) else load_eval_data(source)


def _row(values: np.ndarray, dtype: type) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(1, -1)


def save_eval_data(
    directory: str | Path, part_id: np.ndarray, u: np.ndarray, v: np.ndarray, mesh_id: np.ndarray, pdist: np.ndarray
) -> None:
    """Write the three files in the official layouts (1×N rows, Python-2-compatible pickle), atomically."""
    directory = Path(directory)
    subdiv = {"U_subdiv": _row(u, np.float64), "V_subdiv": _row(v, np.float64),
              "Part_ID_subdiv": _row(part_id, np.int32)}
    atomic_write(directory / SUBDIV_FILE, lambda f: scipy.io.savemat(f, subdiv))
    atomic_write(directory / TRANSFORM_FILE, lambda f: scipy.io.savemat(f, {"index": _row(mesh_id, np.int32)}))
    pdist_column = {"Pdist_matrix": np.asarray(pdist).reshape(-1, 1)}
    atomic_write(directory / PDIST_FILE, lambda f: pickle.dump(pdist_column, f, protocol=2))
