"""Geodesic point similarity (GPS) between detections and ground-truth persons (docs/densepose_format.md, "GPS")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ktn_model.data.meta import NUM_PATCHES
from ktn_model.evaluation.eval_data import EvalData

# κ per part group, metres on the SMPL template (docs/densepose_format.md, "κ"); index = group, 0 = background.
KAPPA = np.array([0.0, 0.351, 0.107, 0.126, 0.237, 0.173, 0.142, 0.128, 0.150])
# Group of each fine part I = 0..24.
PART_GROUP = np.array([0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8])
# The evaluation places GT points with S = 255, not the 256 used in training (docs/densepose_format.md,
# "Coordinate frames: 256 and 255").
EVAL_POINT_SCALE = 255.0
_UV_LEVELS = 256


@dataclass
class GtPoints:
    """The GT points of one person that have a surface vertex (the set P of the GPS sum).

    ``x``, ``y``: (P,) image-frame positions dp·size/255 + corner; ``mesh_id``: (P,) 1-based mesh
    vertex of the GT (I, U, V); ``kappa``: (P,) κ of the point's part group; ``part``, ``u``, ``v``: (P,)
    the annotated patch I and chart coordinates.
    """

    x: np.ndarray
    y: np.ndarray
    mesh_id: np.ndarray
    kappa: np.ndarray
    part: np.ndarray
    u: np.ndarray
    v: np.ndarray


def gt_points(eval_data: EvalData, persons: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> list[GtPoints]:
    """Place each person's ``dp_*`` arrays in the image and find their mesh vertices.

    ``persons``: (bbox XYWH (4,), {"dp_x", "dp_y", "dp_I", "dp_U", "dp_V": (P,)}) pairs, searched
    in one batch.
    """
    if not persons:
        return []
    label, u, v = (np.concatenate([dp[k] for _, dp in persons]) for k in ("dp_I", "dp_U", "dp_V"))
    part = np.where(np.round(label) == label, label, 0).astype(np.int64)
    vertex = eval_data.closest_vertices(part, u.astype(np.float64), v.astype(np.float64))
    splits = np.cumsum([len(dp["dp_I"]) for _, dp in persons])[:-1]
    points = []
    for (bbox, dp), vert, prt in zip(persons, np.split(vertex, splits), np.split(part, splits), strict=True):
        x, y, w, h = bbox
        keep = vert > 0
        points.append(
            GtPoints(
                x=dp["dp_x"][keep] * w / EVAL_POINT_SCALE + x,
                y=dp["dp_y"][keep] * h / EVAL_POINT_SCALE + y,
                mesh_id=eval_data.mesh_id[vert[keep] - 1],
                kappa=KAPPA[PART_GROUP[prt[keep]]],
                part=prt[keep],
                u=dp["dp_U"][keep].astype(np.float64),
                v=dp["dp_V"][keep].astype(np.float64),
            )
        )
    return points


def _pixels(x: np.ndarray, y: np.ndarray, dt_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(px, py, inside), each (D, P): the points' pixels in each detection's IUV grid and whether they lie in it."""
    px = np.trunc(x[None, :] - dt_boxes[:, :1]).astype(np.int64)
    py = np.trunc(y[None, :] - dt_boxes[:, 1:2]).astype(np.int64)
    width, height = np.trunc(dt_boxes[:, 2:3]), np.trunc(dt_boxes[:, 3:4])
    return px, py, (px >= 0) & (py >= 0) & (px < width) & (py < height)


@dataclass
class PointReadings:
    """A detection's prediction at the points of one GT person, as the GPS reads it: ``label``, ``u8``, ``v8``
    (P,) uint8 (0 outside the box), ``distance`` (P,) geodesic metres to the GT vertex (inf: background,
    outside, or a label without vertices), ``similarity`` (P,) the GPS terms."""

    label: np.ndarray
    u8: np.ndarray
    v8: np.ndarray
    distance: np.ndarray
    similarity: np.ndarray


class GpsScorer:
    """Per-pair GPS for the detections of one image, with a cache of predicted (I, U, V) → mesh vertex.

    Predicted U and V are bytes, so each (I, U·255, V·255) is looked up once per evaluation.
    """

    def __init__(self, eval_data: EvalData):
        self.eval_data = eval_data
        self._pred_mesh = np.full((NUM_PATCHES + 1) * _UV_LEVELS * _UV_LEVELS, -1, dtype=np.int64)

    def pred_mesh_ids(self, label: np.ndarray, u8: np.ndarray, v8: np.ndarray) -> np.ndarray:
        """1-based mesh vertex of each predicted (I, U·255, V·255) triple, 0 for background or bad labels."""
        valid = (label >= 1) & (label <= NUM_PATCHES)
        key = (label.astype(np.int64) * _UV_LEVELS + u8) * _UV_LEVELS + v8
        key = np.where(valid, key, 0)
        todo = np.unique(key[valid & (self._pred_mesh[key] < 0)])
        if todo.size:
            part, rest = np.divmod(todo, _UV_LEVELS * _UV_LEVELS)
            u, v = np.divmod(rest, _UV_LEVELS)
            vertex = self.eval_data.closest_vertices(part, u / 255.0, v / 255.0)
            self._pred_mesh[todo] = np.where(vertex > 0, self.eval_data.mesh_id[vertex - 1], 0)
        return np.where(valid, self._pred_mesh[key], 0)

    def readings(self, points: GtPoints, dt_box: np.ndarray, iuv: np.ndarray) -> PointReadings:
        """What the detection with XYWH box ``dt_box`` and (3, H, W) ``iuv`` predicts at ``points``."""
        px, py, inside = (a[0] for a in _pixels(points.x, points.y, dt_box[None, :]))
        values = np.zeros((3, len(points.x)), dtype=np.uint8)
        values[:, inside] = iuv[:, py[inside], px[inside]]
        distance = self.eval_data.geodesic(points.mesh_id, self.pred_mesh_ids(*values))
        similarity = np.exp(-(distance**2) / (2 * points.kappa**2))
        return PointReadings(values[0], values[1], values[2], distance, similarity)

    def matrix(
        self, gts: list[GtPoints | None], dt_boxes: np.ndarray, iuv_of: Callable[[int], np.ndarray], floor: float = 0.0
    ) -> np.ndarray:
        """(D, G) GPS of every detection against every GT; ``None`` GTs (ignored) score 0.

        ``dt_boxes``: (D, 4) XYWH; ``iuv_of(d)``: the (3, H, W) uint8 IUV of detection d, called only for
        detections holding at least a ``floor`` fraction (and at least one) of some GT's points. A pair below
        that fraction has GPS < ``floor`` (a point outside scores 0) and may be left at 0.
        """
        num_dt = len(dt_boxes)
        scores = np.zeros((num_dt, len(gts)))
        columns = [g for g, pts in enumerate(gts) if pts is not None and len(pts.x)]
        if not num_dt or not columns:
            return scores
        pts = [gts[g] for g in columns]
        x, y, mesh_a, kappa = (np.concatenate([getattr(p, f) for p in pts]) for f in ("x", "y", "mesh_id", "kappa"))
        px, py, inside = _pixels(x, y, dt_boxes)
        mesh_b = np.zeros(px.shape, dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum([len(p.x) for p in pts])])
        # (D, columns): the share of each GT's points inside each detection, an upper bound of the pair's GPS
        held = np.add.reduceat(inside, bounds[:-1], axis=1, dtype=np.int64) / np.diff(bounds)
        rows = np.flatnonzero(((held >= floor) & (held > 0)).any(axis=1))
        if rows.size:  # samples in row-major order, as boolean indexing of ``taken`` enumerates them
            taken = np.zeros_like(inside)
            taken[rows] = inside[rows]
            samples = [iuv_of(int(d))[:, py[d, taken[d]], px[d, taken[d]]] for d in rows]
            mesh_b[taken] = self.pred_mesh_ids(*np.concatenate(samples, axis=1))
        dist = self.eval_data.geodesic(mesh_a[None, :], mesh_b)
        similarity = np.exp(-(dist**2) / (2 * kappa**2))
        for g, start, end in zip(columns, bounds[:-1], bounds[1:], strict=True):  # sum / |P| as the reference
            scores[:, g] = similarity[:, start:end].sum(axis=1) / (end - start)
        return scores
