"""Per-pixel SMPL correspondences of one image: the arrays ``ktn smpl correspond`` writes as ``NAME_smpl.npz``.

For the n person pixels (I > 0), in row-major order: ``y``, ``x`` (n,) pixel row and column,
``person`` (n,) instance index (1..D), ``iuv`` (n, 3) float [I, U, V] as decoded, ``face`` (n,) row
of ``All_Faces`` (0-based), ``bary`` (n, 3) barycentrics in that face's corner order, ``vertices``
(n, 3) the 0-based SMPL vertices of those corners, ``nearest_vertex`` (n,) the SMPL vertex of the
corner with the largest barycentric, ``inside`` (n,) False where (U, V) lies in no face and the
nearest corner was taken. With a SMPL template also ``smpl_face`` (n,) the row of the template's
``f`` with the same three vertices (-1: none) and ``points`` (n, 3) the template surface point.
"""

from __future__ import annotations

import numpy as np

from ktn_model.surface.correspond import SurfaceLocator
from ktn_model.surface.iuv_image import person_pixels, surface_coords
from ktn_model.surface.smpl import SMPLTemplate, smpl_faces_of, surface_points


def pixel_correspondences(locator: SurfaceLocator, iuv: np.ndarray, inds: np.ndarray,
                          template: SMPLTemplate | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """The arrays of the module docstring for an (H, W, 3) uint8 IUV and its (H, W) instance map."""
    on = person_pixels(iuv)
    y, x = np.nonzero(on)
    patch, u, v = surface_coords(iuv, on)
    corr = locator.locate(patch, u, v)
    mesh = locator.mesh
    arrays = {
        "y": y.astype(np.int32),
        "x": x.astype(np.int32),
        "person": inds[on].astype(np.int32),
        "iuv": np.stack([patch, u, v], axis=1).astype(np.float32),
        "face": corr.face.astype(np.int32),
        "bary": corr.bary.astype(np.float32),
        "vertices": mesh.face_smpl_vertices()[np.maximum(corr.face, 0)].astype(np.int32),
        "nearest_vertex": locator.nearest_vertex(corr).astype(np.int32),
        "inside": corr.inside,
    }
    if template is not None:
        arrays["smpl_face"] = smpl_faces_of(mesh, template)[np.maximum(corr.face, 0)].astype(np.int32)
        arrays["points"] = surface_points(mesh, template, corr).astype(np.float32)
    return arrays
