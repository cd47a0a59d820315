"""The per-detection IUV result format (docs/densepose_format.md): its size rule and its uint8 encoding.

A detection's result lives in its box frame: an (H', W') grid with H' = max(int(h), 1), W' = max(int(w), 1)
for the XYWH box (x, y, w, h), pixel (0, 0) at the box's integer top-left corner. Torch-free: the model's
post-processing, the result files and the evaluator share these two rules.
"""

from __future__ import annotations

import numpy as np


def iuv_size(bbox_w: float, bbox_h: float) -> tuple[int, int]:
    """(H', W') of the result grid of a box of width ``bbox_w`` and height ``bbox_h``; int() truncates."""
    return max(int(bbox_h), 1), max(int(bbox_w), 1)


def iuv_array(labels: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """labels (H, W) in 0..24 and uv (2, H, W) float -> (3, H, W) uint8 [I, U·255, V·255].

    U and V are scaled by 255, clipped to [0, 255] and truncated, and are 0 wherever the label is 0.
    """
    on_part = labels > 0
    scaled = np.clip(np.asarray(uv, np.float32) * np.float32(255), 0, 255) * on_part  # (2, H, W), 0 off the body
    return np.concatenate([np.asarray(labels, np.uint8)[None], scaled.astype(np.uint8)])
