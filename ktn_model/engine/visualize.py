"""Pictures of DensePose predictions: contours, I segmentation, U, V, boxes, keypoints (``docs/usage.md``).

Each visualiser draws on the input image in grey (as DensePose's ``apply_net.py show`` does) and
returns an (H, W, 3) uint8 RGB array of the input's size, drawn with matplotlib's Agg renderer.
``render(..., long_side=N)`` enlarges small inputs (nearest neighbour, an integer factor) to at
least N pixels on the long side, and ``legend=True`` adds a colour key of the 24 patches to the
right of the ``dp_segm`` picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ktn_model.data.meta import KEYPOINT_SKELETON, NUM_PATCHES
from ktn_model.engine.image_maps import confidence_names, is_cse, uv_uncertainty
from ktn_model.engine.vertex_colours import vertex_colours

OVERLAY_ALPHA = 0.7
CONTOUR_LEVELS = 10
BOX_COLOUR = (15 / 255, 127 / 255, 18 / 255)  # the reference's BGR (18, 127, 15) as RGB
# COCO person skeleton, 0-based keypoint indices.
SKELETON = [(a - 1, b - 1) for a, b in KEYPOINT_SKELETON]
DPI = 100
# The one default detection threshold of pictures and results (`ktn infer --min-score`, the demo).
LABEL_FONT_PT = 7
# Width of one label character and the label height, in font sizes (DejaVu Sans digits, with margin).
LABEL_CHAR_WIDTH, LABEL_HEIGHT = 0.62, 1.25
LEGEND_WIDTH = 70  # pixels added right of a dp_segm picture for its colour key
COLOUR_MAP = "viridis"


def _canvas(image: np.ndarray, extra_width: int = 0) -> tuple[Figure, object]:
    """A figure of the image's size (plus ``extra_width`` pixels on the right) with the grey image
    drawn on axes of exactly the image's size (one data unit = one pixel)."""
    height, width = image.shape[:2]
    fig = Figure(figsize=((width + extra_width) / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, width / (width + extra_width), 1))
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
    ax.imshow(np.ma.masked_where(~mask, values), cmap=COLOUR_MAP, vmin=0, vmax=vmax, alpha=OVERLAY_ALPHA,
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
                ax.contour(values, levels=levels, cmap=COLOUR_MAP, vmin=0, vmax=255, linewidths=0.8)


def place_labels(corners: np.ndarray, size: tuple[float, float]) -> np.ndarray:
    """Bottom-left positions (N, 2) for N labels of ``size`` (w, h) pixels wanted at ``corners`` (N, 2).

    Labels are placed in order; one that would overlap an earlier label moves down by its height
    until it overlaps none (boxes are drawn highest score first, so the best keeps its place).
    """
    w, h = size
    placed: list[tuple[float, float]] = []
    for x, y in np.asarray(corners, dtype=np.float64).reshape(-1, 2):
        while any(abs(x - px) < w and abs(y - py) < h for px, py in placed):
            y += h
        placed.append((x, y))
    return np.array(placed, dtype=np.float64).reshape(-1, 2)


def draw_bbox(ax, _iuv: np.ndarray, output: dict) -> None:
    """Boxes as 1-px rectangles with the score above the top-left corner, labels never overlapping."""
    boxes, scores = output["boxes"].numpy().reshape(-1, 4), output["scores"].numpy().reshape(-1)
    order = np.argsort(-scores, kind="stable")
    texts = [f"{scores[i]:.2f}" for i in order]
    font_px = LABEL_FONT_PT * DPI / 72
    size = (LABEL_CHAR_WIDTH * font_px * max((len(t) for t in texts), default=0), LABEL_HEIGHT * font_px)
    for i, text, (x, y) in zip(order, texts, place_labels(boxes[order, :2], size), strict=True):
        x1, y1, x2, y2 = boxes[i].tolist()
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=BOX_COLOUR, linewidth=1))
        ax.text(x, y, text, color=BOX_COLOUR, fontsize=LABEL_FONT_PT, va="bottom")


def draw_keypoints(ax, _iuv: np.ndarray, output: dict) -> None:
    """The 17 keypoints of each person and the COCO skeleton."""
    for person in output["keypoints"].numpy():
        for a, b in SKELETON:
            ax.plot(person[[a, b], 0], person[[a, b], 1], color="orange", linewidth=1)
        ax.scatter(person[:, 0], person[:, 1], s=6, color="red", zorder=3)


def draw_texture(ax, iuv: np.ndarray, output: dict) -> None:
    """The atlas of ``output["texture_atlas"]`` (``ktn infer --texture-atlas``; default: the reference atlas,
    one colour and a UV grid per patch) painted on every person pixel, bilinear within each tile."""
    from ktn_model.surface.texture import paint, reference_atlas

    atlas = output.get("texture_atlas")
    rgba = np.zeros((*iuv.shape[:2], 4), np.uint8)
    rgba[..., :3] = paint(rgba[..., :3], iuv, reference_atlas() if atlas is None else atlas)
    rgba[..., 3] = np.where(iuv[..., 0] > 0, 255, 0)
    ax.imshow(rgba, interpolation="nearest")


def draw_uv_uncertainty(ax, _iuv: np.ndarray, output: dict) -> None:
    """U/V uncertainty of a confidence model (docs/confidence.md): sqrt(softplus(sigma_2) + eps + |r|^2) (r =
    (kappa_u, kappa_v) when present), from 0 to its 99th percentile on the body."""
    maps = output["image_maps"]
    on_body = maps.inds > 0
    std = uv_uncertainty(maps.confidences)
    _overlay(ax, std, on_body, max(float(np.percentile(std[on_body], 99)), 1e-6) if on_body.any() else 1.0)


def draw_vertex(ax, _iuv: np.ndarray, output: dict) -> None:
    """CSE detections coloured by their closest vertex (docs/cse.md): by 3D position with ``output["mesh_xyz"]``
    (``ktn infer --mesh``), else by vertex index."""
    vertices = output["image_maps"].vertices.astype(np.int64) - 1  # (H, W), -1 off the body
    rgba = np.zeros((*vertices.shape, 4), np.float32)
    on_body = vertices >= 0
    rgba[on_body, :3] = vertex_colours(vertices[on_body], output.get("mesh_xyz"))
    rgba[on_body, 3] = OVERLAY_ALPHA
    ax.imshow(rgba, interpolation="nearest")


# pictures that need a model of one kind: name -> (needs, what the model must have)
MODEL_PICTURES = {"dp_uv_uncertainty": "U/V confidences (a WC preset)", "dp_vertex": "a CSE model"}


def check_vis(names: list[str], output_type: type) -> None:
    """ValueError (one line) for a picture the model cannot give: U/V uncertainty without U/V confidences, the vertex
    picture without a CSE model, I/U/V pictures with one."""
    cse = is_cse(output_type)
    has = {"dp_uv_uncertainty": "sigma_2" in confidence_names(output_type), "dp_vertex": cse}
    wrong = [n for n in names if not has.get(n, not cse or n in ("bbox", "keypoints"))]
    if wrong:
        needs = MODEL_PICTURES.get(wrong[0], "a chart model (I, U, V)")
        raise ValueError(f"--vis {wrong[0]} needs {needs}; this model is {output_type.__name__}")


VISUALIZERS: dict[str, Callable] = {
    "dp_contour": draw_contour,
    "dp_segm": draw_segm,
    "dp_u": draw_u,
    "dp_v": draw_v,
    "bbox": draw_bbox,
    "keypoints": draw_keypoints,
    "dp_iuv_texture": draw_texture,
    "dp_uv_uncertainty": draw_uv_uncertainty,
    "dp_vertex": draw_vertex,
}


def parse_vis(names: str) -> list[str]:
    """``"dp_contour,bbox"`` -> ``["dp_contour", "bbox"]``; unknown names are a ValueError listing the valid ones."""
    from ktn_model.vis.conditioning import STYLES  # the conditioning renders (dp_viridis, dp_parula)

    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in VISUALIZERS and n not in STYLES]
    if unknown:
        valid = ", ".join([*VISUALIZERS, *STYLES])
        raise ValueError(f"unknown visualisation {', '.join(unknown)}; choose from {valid}")
    return chosen


def enlarge(image: np.ndarray, iuv: np.ndarray, output: dict, factor: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """The image and IUV repeated ``factor`` times along both axes, boxes and keypoints scaled to match."""
    if factor == 1:
        return image, iuv, output
    image, iuv = (np.repeat(np.repeat(a, factor, axis=0), factor, axis=1) for a in (image, iuv))
    scaled = dict(output, boxes=output["boxes"] * factor)
    if "keypoints" in output:
        keypoints = output["keypoints"].clone()
        keypoints[..., :2] *= factor  # (D, 17, 3): x, y scaled, visibility kept
        scaled["keypoints"] = keypoints
    return image, iuv, scaled


def _segm_legend(fig: Figure, image_width: int) -> None:
    """A colour key of patches 1..24 (the ``dp_segm`` colours) in the figure's right margin."""
    total = fig.get_figwidth() * DPI
    cax = fig.add_axes((image_width / total + 8 / total, 0.04, 14 / total, 0.92))
    mappable = ScalarMappable(norm=Normalize(0, NUM_PATCHES), cmap=colormaps[COLOUR_MAP])
    patches = np.arange(1, NUM_PATCHES + 1)
    bar = fig.colorbar(mappable, cax=cax, boundaries=np.arange(0.5, NUM_PATCHES + 1), values=patches, ticks=patches)
    bar.ax.tick_params(labelsize=6)
    bar.ax.set_ylabel("patch I", fontsize=7)


def render(name: str, image: np.ndarray, iuv: np.ndarray, output: dict, long_side: int = 0,
           legend: bool = False) -> np.ndarray:  # fmt: skip
    """Draw visualisation ``name`` of one image's predictions.

    ``image`` (H, W, 3) uint8 RGB, ``iuv`` (H, W, 3) uint8 full-image [I, U, V], ``output`` the model's
    per-image dict (tensors on CPU). Returns (k·H, k·W, 3) uint8 RGB, k the smallest integer with
    k·max(H, W) >= ``long_side`` (1 by default); ``legend`` widens a ``dp_segm`` picture by LEGEND_WIDTH.
    """
    factor = max(1, math.ceil(long_side / max(image.shape[:2])))
    image, iuv, output = enlarge(image, iuv, output, factor)
    with_legend = legend and name == "dp_segm"
    fig, ax = _canvas(image, LEGEND_WIDTH if with_legend else 0)
    VISUALIZERS[name](ax, iuv, output)
    if with_legend:
        _segm_legend(fig, image.shape[1])
    return _pixels(fig)
