"""Synthetic stand-ins of ``UV_Processed.mat`` and of a SMPL template, for tests and benchmarks.

Same field names, shapes and index conventions as the real files, made of random points: per patch,
a Delaunay triangulation of ``vertices_per_patch`` random UV points inside ``[MARGIN, 1 - MARGIN]^2``
(so, as in the release, some of the UV square lies outside every face); a share of the UV vertices
reuse the SMPL vertex of another (the seams). The template's faces are the UV faces mapped to SMPL
vertices, shuffled and with rotated corner order, so that nothing relies on the two orders agreeing.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy.spatial import Delaunay

from ktn_model.data.meta import NUM_PATCHES
from ktn_model.surface.smpl import SMPLTemplate
from ktn_model.surface.uv_mesh import UVMesh
from ktn_utils.atomic import atomic_write

MARGIN = 0.05
SEAM_SHARE = 0.12  # share of UV vertices that repeat an earlier SMPL vertex


def random_uv_mesh(seed: int, vertices_per_patch: int = 40) -> UVMesh:
    """A random UV mesh with 24 * ``vertices_per_patch`` UV vertices."""
    rng = np.random.default_rng(seed)
    us, vs, faces, patches = [], [], [], []
    for patch in range(1, NUM_PATCHES + 1):
        uv = rng.uniform(MARGIN, 1.0 - MARGIN, (vertices_per_patch, 2))
        simplices = Delaunay(uv).simplices
        faces.append(simplices + (patch - 1) * vertices_per_patch)
        patches.append(np.full(len(simplices), patch))
        us.append(uv[:, 0])
        vs.append(uv[:, 1])
    seam = rng.random(NUM_PATCHES * vertices_per_patch) < SEAM_SHARE
    fresh = int((~seam).sum())
    smpl = np.empty(len(seam), np.int64)
    smpl[~seam] = rng.permutation(fresh)
    smpl[seam] = rng.integers(0, fresh, int(seam.sum()))
    return UVMesh(np.concatenate(patches), np.concatenate(faces), np.concatenate(us), np.concatenate(vs), smpl)


def template_for(mesh: UVMesh, seed: int) -> SMPLTemplate:
    """A SMPL-like template for ``mesh``: random vertices, its faces shuffled with rotated corners."""
    rng = np.random.default_rng(seed)
    faces = np.unique(np.sort(mesh.face_smpl_vertices(), axis=1), axis=0)  # seams can repeat a face
    faces = np.roll(faces[rng.permutation(len(faces))], 1, axis=1)
    return SMPLTemplate(rng.normal(0.0, 0.3, (mesh.smpl_vertex.max() + 1, 3)), faces)


def save_smpl(path: str | Path, template: SMPLTemplate) -> Path:
    """Write ``v_template`` and ``f`` as ``.npz`` or (SMPL's own format) a protocol-2 ``.pkl`` dict."""
    fields = {"v_template": template.vertices, "f": template.faces.astype(np.uint32)}
    if Path(path).suffix == ".npz":
        return atomic_write(path, lambda f: np.savez(f, **fields))
    return atomic_write(path, lambda f: pickle.dump(fields, f, protocol=2))
