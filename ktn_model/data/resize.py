"""detectron2's test-time resize (``ResizeShortestEdge``): the size rule and the PIL resize of uint8 images.

The size rule is shared with the network's own (training) resize, so both agree on every output size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def shortest_edge_size(height: int, width: int, short: int, max_size: int) -> tuple[int, int]:
    """(new_h, new_w): scale the short side to ``short`` unless the long side would pass ``max_size``.

    ``new = int(old · scale + 0.5)``, as detectron2 computes it.
    """
    scale = short / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_shortest_edge(image: np.ndarray, short: int, max_size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 with PIL's bilinear filter (antialiased when shrinking)."""
    height, width = image.shape[:2]
    new_h, new_w = shortest_edge_size(height, width, short, max_size)
    if (new_h, new_w) == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
