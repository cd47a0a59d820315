"""Reading ``ktn infer``'s full-image IUV: (H, W, 3) uint8 [I, U*255, V*255], 0 = background."""

from __future__ import annotations

import numpy as np

UV_SCALE = 255.0  # IUV PNGs store U and V as floor(x * 255)


def person_pixels(iuv: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: foreground (I > 0) pixels, restricted to ``mask`` when given."""
    on = iuv[..., 0] > 0
    return on if mask is None else on & mask


def surface_coords(iuv: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patch, U, V) (n,) of the pixels where ``on`` (H, W) is set, in row-major order."""
    return iuv[..., 0][on].astype(np.int64), iuv[..., 1][on] / UV_SCALE, iuv[..., 2][on] / UV_SCALE
