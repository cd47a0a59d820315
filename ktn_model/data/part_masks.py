"""The 14 ``dp_masks`` RLEs of a person as one coarse-part label map (numpy and pycocotools only, no torch:
the evaluator uses it too)."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_utils

from ktn_model.data.meta import DP_FRAME, NUM_COARSE_PARTS


def decode_part_masks(dp_masks: list) -> np.ndarray:
    """The 14 ``dp_masks`` RLEs -> one (256, 256) uint8 label map S_gt in 0..14, parts painted in order
    1..14 so later parts overwrite earlier ones (docs/densepose_format.md, "Annotations")."""
    labels = np.zeros((DP_FRAME, DP_FRAME), dtype=np.uint8)
    if len(dp_masks) > NUM_COARSE_PARTS:
        raise ValueError(f"dp_masks has {len(dp_masks)} entries, at most {NUM_COARSE_PARTS} expected")
    for k, rle in enumerate(dp_masks, start=1):
        if not rle:
            continue
        if isinstance(rle.get("counts"), list):
            rle = mask_utils.frPyObjects(rle, *rle["size"])
        labels[mask_utils.decode(rle) > 0] = k
    return labels
