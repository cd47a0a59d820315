"""The 14 ``dp_masks`` RLEs of a person as one coarse-part label map (numpy and pycocotools only, no torch:
the evaluator uses it too)."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_utils

from ktn_model.data.meta import DP_FRAME, NUM_COARSE_PARTS


def decode_part_masks(dp_masks: list) -> np.ndarray:
    """The 14 ``dp_masks`` RLEs -> one (256, 256) uint8 label map S_gt in 0..14, parts painted in order
    1..14 so later parts overwrite earlier ones (docs/densepose_format.md, "Annotations")."""
    if len(dp_masks) > NUM_COARSE_PARTS:
        raise ValueError(f"dp_masks has {len(dp_masks)} entries, at most {NUM_COARSE_PARTS} expected")
    parts = [k for k, rle in enumerate(dp_masks, start=1) if rle]
    if not parts:
        return np.zeros((DP_FRAME, DP_FRAME), dtype=np.uint8)
    rles = [dp_masks[k - 1] for k in parts]
    for k, rle in zip(parts, rles, strict=True):
        if list(rle.get("size") or ()) != [DP_FRAME, DP_FRAME]:
            raise ValueError(f"dp_masks entry {k} has size {rle.get('size')}, expected [{DP_FRAME}, {DP_FRAME}]")
    rles = [mask_utils.frPyObjects(r, *r["size"]) if isinstance(r.get("counts"), list) else r for r in rles]
    masks = mask_utils.decode(rles)  # (256, 256, len(parts)), decoded in one call
    # Painting in order 1..14 leaves at each pixel the largest k whose mask covers it.
    return (masks.astype(bool) * np.array(parts, dtype=np.uint8)).max(axis=2)
