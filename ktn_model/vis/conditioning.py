"""Conditioning renders: the DensePose images that MagicAnimate and ControlNet DensePose nodes are trained on
(docs/inference.md, "Conditioning renders").

The rule restated from comfyui_controlnet_aux 1.1.5's DensePose preprocessor (``DenseposeDetector.__call__`` with
detectron2's ``DensePoseMaskedColormapResultsVisualizer`` at alpha 1 and ``val_scale`` 255/24), step by step:

1. A black (H, W) canvas (``hint_image_canvas``).
2. Detections in descending score order (the detector's output order), each painted over the canvas, so where two
   persons overlap the later, lower-scoring one is on top (``DensePoseResultsVisualizer.visualize``).
3. A detection's box is placed at x = int(x1), y = int(y1) with w = int(x2 - x1), h = int(y2 - y1) (the
   ``make_int_box`` truncation); a box with w <= 0 or h <= 0 paints nothing (``MatrixVisualizer.visualize``).
4. Inside the box only pixels with part I > 0 are painted (``segm_extractor`` = I, ``mask_bg``); the others keep
   what the canvas had.
5. The painted value is the colour table's entry floor(I · 255 / 24) (float32 ``matrix * val_scale`` cast to
   uint8; 255/24 = 85/8 is exact, so this is integer floor division).
6. Colour table: viridis for "Viridis (MagicAnimate)", parula for "Parula (CivitAI)" (``cv2.COLORMAP_*``).
7. Viridis only: afterwards every channel value 0 in the whole picture is replaced by (68, 1, 84)'s value for that
   channel (R, G, B separately), which turns the black background into viridis's first colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps

from ktn_model.data.meta import NUM_PATCHES
from ktn_model.vis.parula import PARULA_RGB


@dataclass(frozen=True)
class ConditioningStyle:
    """One comfyui_controlnet_aux variant: its colour table and the per-channel fill of zero values (or None)."""

    label: str  # the variant's name in comfyui_controlnet_aux
    table: np.ndarray  # (256, 3) uint8 RGB
    zero_fill: tuple[int, int, int] | None


def viridis_table() -> np.ndarray:
    """(256, 3) uint8: matplotlib's viridis rounded to nearest (the same 256 entries as ``cv2.COLORMAP_VIRIDIS``)."""
    return np.rint(np.asarray(colormaps["viridis"].colors, np.float64) * 255).astype(np.uint8)


STYLES: dict[str, ConditioningStyle] = {
    "dp_viridis": ConditioningStyle("Viridis (MagicAnimate)", viridis_table(), (68, 1, 84)),
    "dp_parula": ConditioningStyle("Parula (CivitAI)", PARULA_RGB, None),
}


def check_render_size(short_side: int | None) -> None:
    """ValueError unless ``short_side`` is None (the input's size) or at least one pixel."""
    if short_side is not None and short_side < 1:
        raise ValueError(f"--render-size must be at least 1 pixel, got {short_side}")


def render_size(height: int, width: int, short_side: int | None = None) -> tuple[int, int]:
    """(H, W) of a render whose short side is ``short_side`` (None: the input's size); the long side is scaled by
    the same factor and rounded half to even, as comfyui_controlnet_aux's ``resize_image_with_pad`` sizes its input."""
    check_render_size(short_side)
    if short_side is None:
        return height, width
    k = float(short_side) / float(min(height, width))
    return int(np.round(float(height) * k)), int(np.round(float(width) * k))


def render_conditioning(kind: str, size: tuple[int, int], boxes: np.ndarray, scores: np.ndarray,
                        labels: Sequence[np.ndarray]) -> np.ndarray:
    """The ``kind`` render (a key of ``STYLES``) of one image's detections, (H, W, 3) uint8 RGB.

    ``size`` (H, W) is the frame of ``boxes`` (D, 4) float32 XYXY; ``scores`` (D,); ``labels[d]`` the (h_d, w_d)
    uint8 part map of detection d in its box frame (``DensePoseChartResult.labels``).
    """
    style = STYLES[kind]
    height, width = size
    value = np.zeros((height, width), np.uint8)  # the table index painted so far
    painted = np.zeros((height, width), bool)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    for d in np.argsort(-np.asarray(scores, np.float64), kind="stable"):  # step 2: descending score
        x, y = int(boxes[d, 0]), int(boxes[d, 1])  # step 3 (float32 differences, truncated)
        w, h = int(boxes[d, 2] - boxes[d, 0]), int(boxes[d, 3] - boxes[d, 1])
        if w <= 0 or h <= 0:
            continue
        parts = np.asarray(labels[d])[:h, :w][: max(height - y, 0), : max(width - x, 0)]
        fg = parts > 0  # step 4
        rows, cols = slice(y, y + fg.shape[0]), slice(x, x + fg.shape[1])
        value[rows, cols][fg] = parts[fg].astype(np.int32) * 255 // NUM_PATCHES  # step 5
        painted[rows, cols] |= fg
    picture = np.where(painted[..., None], style.table[value], np.uint8(0))  # step 6
    if style.zero_fill is not None:  # step 7
        picture = np.where(picture == 0, np.array(style.zero_fill, np.uint8), picture)
    return picture


def render_output(kind: str, output: dict, size: tuple[int, int]) -> np.ndarray:
    """``render_conditioning`` of a ``Predictor`` output (``boxes``, ``scores``, ``densepose`` chart results on CPU)
    whose boxes are in the pixels of a (H, W) = ``size`` frame."""
    labels = [r.labels.numpy() for r in output["densepose"]]
    return render_conditioning(kind, size, output["boxes"].numpy(), output["scores"].numpy(), labels)
