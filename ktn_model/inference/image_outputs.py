"""One image's post-processed detections in the two official encodings (docs/densepose_format.md).

``paste_iuv``: the full-image IUV and instance-index arrays that ``NAME_IUV.png`` / ``NAME_INDS.png`` hold;
``coco_results``: the official result dicts that ``results.json`` lists and the evaluation scores. Neither
imports torch: the detections arrive as CPU tensors and ``DensePoseChartResult`` objects.
"""

from __future__ import annotations

import numpy as np

from ktn_model.evaluation.results import to_coco_results


def paste_iuv(output: dict, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-image (H, W, 3) uint8 IUV and (H, W) instance indices (uint8; uint16 past 255 detections).

    Detection k (0-based) owns its box's foreground pixels (I > 0) unless a detection with a higher score
    also covers them; its index value is k + 1. Boxes are placed at (int(x1), int(y1)).
    """
    iuv = np.zeros((height, width, 3), np.uint8)
    inds = np.zeros((height, width), np.uint8 if len(output["scores"]) < 256 else np.uint16)
    order = np.argsort(-output["scores"].numpy(), kind="stable")[::-1]  # lowest score first
    for k in order:
        box = output["densepose"][k].iuv().transpose(1, 2, 0)  # (h, w, 3) in the box frame
        x0, y0 = (max(int(c), 0) for c in output["boxes"][k, :2].tolist())
        region = box[: height - y0, : width - x0]
        fg = region[..., 0] > 0
        h, w = fg.shape
        iuv[y0 : y0 + h, x0 : x0 + w][fg] = region[fg]
        inds[y0 : y0 + h, x0 : x0 + w][fg] = k + 1
    return iuv, inds


def coco_results(image_id: int, output: dict) -> list[dict]:
    """One image's post-processed detections (a ``Predictor`` output) in the official result encoding."""
    return to_coco_results(image_id, {**output, "densepose": [r.iuv() for r in output["densepose"]]})
