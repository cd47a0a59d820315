"""DensePose training RoIs and targets (docs/method.md, "Training RoIs and targets"): what every loss samples.

All boxes are XYXY in the network-input frame; DensePose points and S_gt live in the 256×256 frame
of their GT box, so they need no resizing.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.ops import box_iou

from ktn_model.data.meta import DP_FRAME
from ktn_model.data.person_masks import resample_masks  # noqa: F401 (the losses' import path)

# The summed U/V losses are taken per this many images: the release's 4 images per process (docs/training.md).
UV_LOSS_IMAGES = 4


class DensePoseRoIs(NamedTuple):
    """Training RoIs of one image: ``boxes`` (n, 4) proposals and ``gt`` (n,) index of the matched GT."""

    boxes: Tensor
    gt: Tensor


def select_densepose_rois(proposals: Tensor, matched_idxs: Tensor, labels: Tensor, gt_boxes: Tensor,
                          dp_valid: Tensor, iou_threshold: float = 0.65, max_rois: int = 0) -> DensePoseRoIs:
    """Foreground proposals with IoU(proposal, matched GT) > ``iou_threshold`` whose GT has DensePose.

    proposals (R, 4), matched_idxs (R,), labels (R,), gt_boxes (G, 4), dp_valid (G,) bool. ``max_rois`` > 0
    keeps a random subset of that size (the slim CPU preset's cap).
    """
    fg = torch.where(labels > 0)[0]
    if gt_boxes.numel() == 0 or fg.numel() == 0:
        return DensePoseRoIs(proposals[:0], matched_idxs[:0])
    gt = matched_idxs[fg]
    iou = box_iou(proposals[fg], gt_boxes).gather(1, gt[:, None])[:, 0]
    keep = fg[(iou > iou_threshold) & dp_valid[gt]]
    if 0 < max_rois < keep.numel():
        keep = keep[torch.randperm(keep.numel(), device=keep.device)[:max_rois]]
    return DensePoseRoIs(proposals[keep], matched_idxs[keep])


class PointSamples(NamedTuple):
    """Annotated points mapped onto the RoI heat-map grid, one entry per valid point, (P,) each.

    ``roi`` indexes the RoI batch; the four neighbours are (y_lo|y_hi, x_lo|x_hi) with weights from w_x, w_y.
    """

    roi: Tensor
    x_lo: Tensor
    x_hi: Tensor
    y_lo: Tensor
    y_hi: Tensor
    w_x: Tensor
    w_y: Tensor
    I: Tensor  # noqa: E741
    U: Tensor
    V: Tensor


def _grid_axis(coord: Tensor, lo: Tensor, extent: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Coordinates (P,) in a proposal [lo, lo + extent) -> validity, lo/hi indices and weight on a ``size`` grid."""
    valid = (coord - lo >= 0) & (coord - lo < extent)
    g = (coord - lo) * size / extent
    i_lo = g.floor().clamp(0, size - 1)
    i_hi = (i_lo + 1).clamp(max=size - 1)
    return valid, i_lo.long(), i_hi.long(), torch.minimum(i_hi, g) - i_lo


def point_samples(points: list[Tensor], gt_boxes: Tensor, boxes: Tensor, size: int = 112) -> PointSamples:
    """points: per RoI (P_i, 5) [x, y, I, U, V] in the GT frame; gt_boxes, boxes (N, 4) -> the points inside."""
    counts = torch.tensor([len(p) for p in points], dtype=torch.long, device=boxes.device)
    pts = torch.cat(points) if points else boxes.new_zeros((0, 5))
    roi = torch.repeat_interleave(torch.arange(len(points), device=boxes.device), counts)
    gt, box = gt_boxes[roi], boxes[roi]
    gt_wh, box_wh = gt[:, 2:] - gt[:, :2], box[:, 2:] - box[:, :2]
    xy = gt[:, :2] + pts[:, :2] * gt_wh / DP_FRAME
    vx, x_lo, x_hi, w_x = _grid_axis(xy[:, 0], box[:, 0], box_wh[:, 0], size)
    vy, y_lo, y_hi, w_y = _grid_axis(xy[:, 1], box[:, 1], box_wh[:, 1], size)
    k = vx & vy
    return PointSamples(roi[k], x_lo[k], x_hi[k], y_lo[k], y_hi[k], w_x[k], w_y[k], pts[k, 2].long(), pts[k, 3],
                        pts[k, 4])


def bilinear_sample(maps: Tensor, s: PointSamples) -> Tensor:
    """maps (N, C, S, S) -> (P, C), bilinear at the sampled points (corner-aligned grid)."""
    m = maps.permute(0, 2, 3, 1)
    wx, wy = s.w_x[:, None], s.w_y[:, None]
    return ((1 - wx) * (1 - wy) * m[s.roi, s.y_lo, s.x_lo] + wx * (1 - wy) * m[s.roi, s.y_lo, s.x_hi]
            + (1 - wx) * wy * m[s.roi, s.y_hi, s.x_lo] + wx * wy * m[s.roi, s.y_hi, s.x_hi])


def part_values(maps: Tensor, s: PointSamples) -> Tensor:
    """maps (N, 25, S, S) -> (P_fg,): bilinear at the points on the body, in the channel of their annotated patch."""
    fg = s.I > 0
    return bilinear_sample(maps, s)[fg].gather(1, s.I[fg, None])[:, 0]


def zero_loss(*tensors: Tensor) -> Tensor:
    """A zero loss connected to ``tensors`` so that every parameter still gets a (zero) gradient."""
    return sum(t.sum() for t in tensors) * 0.0


def uv_loss_scale(num_images: int) -> float:
    """Factor of the summed U/V losses of a process's ``num_images`` images: ``UV_LOSS_IMAGES / num_images``.

    DDP averages gradients over processes, so for a global batch of N images in equal shares the effective
    U/V loss is weight · 4 · (sum over the N images' points) / N whatever the number of processes; at the
    released batch (4 processes × 4 images) the factor is 1, the release's per-process sum.
    """
    return UV_LOSS_IMAGES / num_images
