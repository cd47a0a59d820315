"""Pictures of DensePose predictions (data/eval spec §4.6): contours, I segmentation, U, V, boxes, keypoints.

Each visualiser draws on the input image in grey (as ``apply_net.py show`` does) and returns an
(H, W, 3) uint8 RGB array of the input's size, drawn with matplotlib's Agg renderer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ktn_model.data.meta import KEYPOINT_SKELETON, NUM_PATCHES

OVERLAY_ALPHA = 0.7
CONTOUR_LEVELS = 10
BOX_COLOUR = (15 / 255, 127 / 255, 18 / 255)  # the reference's BGR (18, 127, 15) as RGB
# COCO person skeleton, 0-based keypoint indices.
SKELETON = [(a - 1, b - 1) for a, b in KEYPOINT_SKELETON]
DPI = 100


def _canvas(image: np.ndarray) -> tuple[Figure, object]:
    """A figure exactly the image's size with the grey image drawn on full-figure axes."""
    height, width = image.shape[:2]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.axis("off")
    return fig, ax


def _pixels(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _overlay(ax, values: np.ndarray, mask: np.ndarray, vmax: float) -> None:
    ax.imshow(np.ma.masked_where(~mask, values), cmap="viridis", vmin=0, vmax=vmax, alpha=OVERLAY_ALPHA,
              interpolation="nearest")


def draw_segm(ax, iuv: np.ndarray, _output: dict) -> None:
    """The I label map (0..24) colour-mapped where I > 0."""
    _overlay(ax, iuv[..., 0].astype(np.float32), iuv[..., 0] > 0, NUM_PATCHES)


def draw_u(ax, iuv: np.ndarray, _output: dict) -> None:
    """The U channel (0..255) where I > 0."""
    _overlay(ax, iuv[..., 1].astype(np.float32), iuv[..., 0] > 0, 255)


def draw_v(ax, iuv: np.ndarray, _output: dict) -> None:
    """The V channel (0..255) where I > 0."""
    _overlay(ax, iuv[..., 2].astype(np.float32), iuv[..., 0] > 0, 255)


def draw_contour(ax, iuv: np.ndarray, _output: dict) -> None:
    """Iso-contours of U and of V (10 levels each), per surface patch so that seams draw no lines."""
    levels = np.linspace(0, 255, CONTOUR_LEVELS + 2)[1:-1]
    for patch in np.unique(iuv[..., 0]):
        if patch == 0:
            continue
        inside = iuv[..., 0] == patch
        for channel in (1, 2):
            values = np.ma.masked_where(~inside, iuv[..., channel].astype(np.float32))
            if values.count() > 3:
                ax.contour(values, levels=levels, cmap="viridis", vmin=0, vmax=255, linewidths=0.8)


def draw_bbox(ax, _iuv: np.ndarray, output: dict) -> None:
    """Boxes as 1-px rectangles with the score written at the top-left corner."""
    for (x1, y1, x2, y2), score in zip(output["boxes"].tolist(), output["scores"].tolist(), strict=True):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=BOX_COLOUR, linewidth=1))
        ax.text(x1, y1, f"{score:6.4f}", color=BOX_COLOUR, fontsize=7, va="bottom")


def draw_keypoints(ax, _iuv: np.ndarray, output: dict) -> None:
    """The 17 keypoints of each person and the COCO skeleton."""
    for person in output["keypoints"].numpy():
        for a, b in SKELETON:
            ax.plot(person[[a, b], 0], person[[a, b], 1], color="orange", linewidth=1)
        ax.scatter(person[:, 0], person[:, 1], s=6, color="red", zorder=3)


def draw_texture(ax, iuv: np.ndarray, _output: dict) -> None:
    """The reference atlas (one colour and a UV grid per patch) painted on every person pixel."""
    from ktn_model.surface.texture import paint, reference_atlas

    rgba = np.zeros((*iuv.shape[:2], 4), np.uint8)
    rgba[..., :3] = paint(rgba[..., :3], iuv, reference_atlas())
    rgba[..., 3] = np.where(iuv[..., 0] > 0, 255, 0)
    ax.imshow(rgba, interpolation="nearest")


VISUALIZERS: dict[str, Callable] = {
    "dp_contour": draw_contour,
    "dp_segm": draw_segm,
    "dp_u": draw_u,
    "dp_v": draw_v,
    "bbox": draw_bbox,
    "keypoints": draw_keypoints,
    "dp_iuv_texture": draw_texture,
}


def parse_vis(names: str) -> list[str]:
    """``"dp_contour,bbox"`` -> ``["dp_contour", "bbox"]``; unknown names are a ValueError listing the valid ones."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in VISUALIZERS]
    if unknown:
        raise ValueError(f"unknown visualisation {', '.join(unknown)}; choose from {', '.join(VISUALIZERS)}")
    return chosen


def render(name: str, image: np.ndarray, iuv: np.ndarray, output: dict) -> np.ndarray:
    """Draw visualisation ``name`` of one image's predictions.

    ``image`` (H, W, 3) uint8 RGB, ``iuv`` (H, W, 3) uint8 full-image [I, U, V], ``output`` the model's
    per-image dict (tensors on CPU). Returns (H, W, 3) uint8 RGB.
    """
    fig, ax = _canvas(image)
    VISUALIZERS[name](ax, iuv, output)
    return _pixels(fig)
