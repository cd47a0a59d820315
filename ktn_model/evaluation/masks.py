"""Full-image person masks and their IoU, for GPSm = sqrt(GPS · mask IoU) (docs/densepose_format.md, "GPSm").

A mask is kept as the window of the image it was pasted into: (row0, col0, bool (h, w)); the IoU
of two such masks equals the IoU of the full-image masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ktn_model.data.meta import DP_FRAME, NUM_COARSE_PARTS
from ktn_model.data.part_masks import decode_part_masks


@dataclass
class PastedMask:
    """A binary mask occupying rows row0.. and columns col0.. of the image; ``pixels``: bool (h, w)."""

    row0: int
    col0: int
    pixels: np.ndarray

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.pixels))


def paste(local: np.ndarray, bbox: np.ndarray, image_hw: tuple[int, int]) -> PastedMask:
    """Place a box-local mask at (int(x), int(y)), rows [max(yi,0), min(int(y+h), H, yi+h'))."""
    x, y, w, h = (float(c) for c in bbox)
    xi, yi = int(x), int(y)
    r0, c0 = max(yi, 0), max(xi, 0)
    r1 = min(int(y + h), image_hw[0], yi + local.shape[0])
    c1 = min(int(x + w), image_hw[1], xi + local.shape[1])
    window = local[r0 - yi : max(r1, r0) - yi, c0 - xi : max(c1, c0) - xi]
    return PastedMask(r0, c0, window > 0)


def gt_mask(ann: dict, image_hw: tuple[int, int], full_mask) -> PastedMask:
    """The GT person mask: zoomed ``dp_masks`` label map > 0.5 when present, else the segmentation.

    ``full_mask(ann)`` returns the full-image segmentation mask (pycocotools ``annToMask``). The
    label map (values up to 14) is zoomed bilinearly before thresholding, as the reference does.
    """
    if "dp_masks" in ann:
        _, _, w, h = ann["bbox"]
        factors = (max(h, 1) / DP_FRAME, max(w, 1) / DP_FRAME)
        labels = decode_part_masks(ann["dp_masks"][:NUM_COARSE_PARTS]).astype(np.float64)  # the reference reads 14
        zoomed = ndimage.zoom(labels, factors, order=1, prefilter=False)
        return paste(zoomed > 0.5, np.asarray(ann["bbox"]), image_hw)
    if ann.get("segmentation"):
        return PastedMask(0, 0, full_mask(ann) > 0)
    return PastedMask(0, 0, np.zeros((0, 0), dtype=bool))


def mask_iou(dt: PastedMask, gt: PastedMask, crowd: bool) -> float:
    """pycocotools' IoU of two masks; for a crowd GT the denominator is the detection's area."""
    r0, c0 = max(dt.row0, gt.row0), max(dt.col0, gt.col0)
    r1 = min(dt.row0 + dt.pixels.shape[0], gt.row0 + gt.pixels.shape[0])
    c1 = min(dt.col0 + dt.pixels.shape[1], gt.col0 + gt.pixels.shape[1])
    inter = 0
    if r1 > r0 and c1 > c0:
        a = dt.pixels[r0 - dt.row0 : r1 - dt.row0, c0 - dt.col0 : c1 - dt.col0]
        b = gt.pixels[r0 - gt.row0 : r1 - gt.row0, c0 - gt.col0 : c1 - gt.col0]
        inter = int(np.count_nonzero(a & b))
    union = dt.area if crowd else dt.area + gt.area - inter
    return inter / union if union else 0.0
