"""COCO keypoint similarity (OKS) of one image, as pycocotools' ``COCOeval`` computes it (iouType 'keypoints').

The keypoint AP of ``ktn evaluate`` matches, accumulates and summarizes OKS with ``matching.py`` (no box
fallback, 20 detections, the three area ranges), image by image, so that no result is held in memory; it
equals pycocotools' numbers exactly (``tests/test_eval_speed.py`` compares them on random scenes). Only person
annotations (category 1) are scored. See docs/densepose_format.md, "Keypoint AP".
"""

from __future__ import annotations

import numpy as np

from ktn_model.data.meta import NUM_KEYPOINTS

# COCO's per-keypoint sigmas (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89,
                   0.89]) / 10.0  # fmt: skip
_VARIANCES = (SIGMAS * 2) ** 2


def oks_matrix(gts: list[dict], dt_keypoints: np.ndarray) -> np.ndarray:
    """(D, G) OKS of ``dt_keypoints`` (D, 51) against the GT annotations (``keypoints``, ``bbox``, ``area``).

    Per GT with visible keypoints, exp(−d²/(2·s²·k²)) averaged over its visible keypoints (s² = area); a GT
    without visible keypoints measures how far each predicted keypoint lies outside its box doubled in size.
    Vectorised over detections with the element-wise operations, and the row sums, of pycocotools.
    """
    num_dt = len(dt_keypoints)
    out = np.zeros((num_dt, len(gts)))
    if not num_dt:
        return out
    xd, yd = dt_keypoints[:, 0::3], dt_keypoints[:, 1::3]
    for j, gt in enumerate(gts):
        g = np.array(gt["keypoints"])
        xg, yg, vg = g[0::3], g[1::3], g[2::3]
        visible = vg > 0
        if np.count_nonzero(visible) > 0:
            dx, dy = xd - xg, yd - yg
        else:
            x, y, w, h = gt["bbox"]
            zero = np.zeros(NUM_KEYPOINTS)
            dx = np.maximum(zero, (x - w) - xd) + np.maximum(zero, xd - (x + w * 2))
            dy = np.maximum(zero, (y - h) - yd) + np.maximum(zero, yd - (y + h * 2))
        e = (dx**2 + dy**2) / _VARIANCES / (gt["area"] + np.spacing(1)) / 2
        if np.count_nonzero(visible) > 0:
            e = np.ascontiguousarray(e[:, visible])  # C order: each row is summed like pycocotools' 1-D array
        out[:, j] = np.sum(np.exp(-e), axis=1) / e.shape[1]
    return out


def keypoint_ignore(gts: list[dict]) -> np.ndarray:
    """(G,) bool: crowds and persons without annotated keypoints are ignored (pycocotools' rule)."""
    return np.array([bool(g.get("iscrowd", 0)) or g["num_keypoints"] == 0 for g in gts], dtype=bool)
