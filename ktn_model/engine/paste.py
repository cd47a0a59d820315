"""Per-detection results (box frame) pasted into image-sized maps (docs/densepose_format.md, "Per-detection
results"): one owner per pixel, the detection with the highest score among those whose foreground covers it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def box_origin(box) -> tuple[int, int]:
    """(x0, y0): the integer top-left corner where a box's result grid starts, clipped at 0."""
    return tuple(max(int(c), 0) for c in box[:2].tolist())


def owners(output: dict, height: int, width: int) -> np.ndarray:
    """(H, W) detection indices: k + 1 where detection k (0-based, results order) owns the pixel, 0 elsewhere; uint8,
    uint16 past 255 detections. Detections are placed lowest score first, so a higher score wins where foregrounds
    (``result.foreground()``) overlap."""
    inds = np.zeros((height, width), np.uint8 if len(output["scores"]) < 256 else np.uint16)
    for k in np.argsort(-output["scores"].numpy(), kind="stable")[::-1]:
        x0, y0 = box_origin(output["boxes"][k])
        fg = output["densepose"][k].foreground()[: height - y0, : width - x0]
        h, w = fg.shape
        inds[y0 : y0 + h, x0 : x0 + w][fg] = k + 1
    return inds


def paste_owned(output: dict, inds: np.ndarray, box_map: Callable[[object], np.ndarray], dtype: type,
                channels: tuple[int, ...] = ()) -> np.ndarray:
    """(H, W, *channels) ``dtype``: ``box_map(result)`` ((h, w, *channels) in the box frame) at the pixels each
    detection owns (``owners``), zeros elsewhere."""
    out = np.zeros((*inds.shape, *channels), dtype)
    for k, result in enumerate(output["densepose"]):
        x0, y0 = box_origin(output["boxes"][k])
        region = np.asarray(box_map(result))[: inds.shape[0] - y0, : inds.shape[1] - x0]
        h, w = region.shape[:2]
        mine = inds[y0 : y0 + h, x0 : x0 + w] == k + 1
        out[y0 : y0 + h, x0 : x0 + w][mine] = region[mine]
    return out
