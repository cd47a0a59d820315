"""detectron2's ``DensePoseChartLoss`` (docs/method.md, "Losses"): U, V (smooth L1 at the annotated points, summed),
I (cross-entropy at the points) and M (cross-entropy of the fg/bg map against the annotated masks)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import DENSEPOSE_LOSSES
from ..structures import DensePoseOutput
from .sampling import (
    DensePoseRoIs,
    PointSamples,
    bilinear_sample,
    point_samples,
    resample_masks,
    uv_loss_scale,
    zero_loss,
)


class DensePoseLossWeights(NamedTuple):
    """Weights of the U/V (summed over points, per ``UV_LOSS_IMAGES`` images), I, S, M and keypoint losses, and the
    factor of the I, U, V losses on a teacher's pseudo-labelled points (docs/other_systems.md, "Teacher
    inpainting")."""

    uv: float = 0.01
    i: float = 1.0
    s: float = 2.0
    m: float = 5.0
    k: float = 0.1
    pseudo: float = 0.2


class DenseTargets(NamedTuple):
    """The RoIs that have annotated points: their outputs ``out`` (n rows), the point samples on the output grid
    ``points`` and the annotated masks S_gt resampled to the output grid ``masks`` (n, S, S) in 0..14."""

    out: DensePoseOutput
    points: PointSamples
    masks: Tensor


@DENSEPOSE_LOSSES.register("DensePoseChartLoss")
class DensePoseChartLoss:
    """``loss(out, rois, targets)``: the weighted losses over the RoIs of this process's batch (``out``
    concatenates them; ``rois`` and ``targets`` hold one entry per image). A subclass adds terms on all RoIs
    (``roi_losses``) or on the RoIs with points (``dense_losses``); ``dense_maps`` are the fields those use."""

    dense_maps = ("U", "V", "I", "M")

    def __init__(self, weights: DensePoseLossWeights = DensePoseLossWeights()):
        self.w = weights

    @classmethod
    def from_config(cls, cfg) -> DensePoseChartLoss:
        dp = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(DensePoseLossWeights(dp.POINT_REGRESSION_WEIGHTS, dp.PART_WEIGHTS, dp.INDEX_WEIGHTS,
                                        dp.BODY_MASK_WEIGHTS, cfg.MODEL.ROI_KEYPOINT_HEAD.LOSS_WEIGHT,
                                        dp.PSEUDO_LABEL_WEIGHT))

    def roi_losses(self, out: DensePoseOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        return {}

    def point_losses(self, out: DensePoseOutput, s: PointSamples, num_images: int, suffix: str = "",
                     factor: float = 1.0) -> dict[str, Tensor]:
        """U, V (at the point's patch) and I at the point samples ``s`` of ``out``, × ``factor``."""
        fg = s.I > 0
        part_gt = s.I[fg, None]
        u = bilinear_sample(out.U, s)[fg].gather(1, part_gt)[:, 0]  # (P_fg,) at the annotated patch
        v = bilinear_sample(out.V, s)[fg].gather(1, part_gt)[:, 0]
        i_logits = bilinear_sample(out.I, s)  # (P, 25)
        uv = factor * self.w.uv * uv_loss_scale(num_images)
        return {
            f"loss_densepose_U{suffix}": uv * F.smooth_l1_loss(u, s.U[fg], reduction="sum"),
            f"loss_densepose_V{suffix}": uv * F.smooth_l1_loss(v, s.V[fg], reduction="sum"),
            f"loss_densepose_I{suffix}": factor * self.w.i * F.cross_entropy(i_logits, s.I) if len(s.I)
            else zero_loss(out.I),
        }

    def dense_losses(self, t: DenseTargets, num_images: int) -> dict[str, Tensor]:
        """U, V, I at the points; M against the masks (fg = any part)."""
        return {**self.point_losses(t.out, t.points, num_images),
                "loss_densepose_M": self.w.m * F.cross_entropy(t.out.M, t.masks.clamp(0, 1))}

    def pseudo_losses(self, out: DensePoseOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        """I, U, V at the teacher's pseudo-labelled points (``dp_pseudo``) × the pseudo-label weight, as
        ``loss_densepose_{I,U,V}_pseudo``; zero (still connected) when the RoIs have none."""
        boxes = torch.cat([r.boxes for r in rois])
        gt_boxes = torch.cat([t["boxes"][r.gt] for r, t in zip(rois, targets, strict=True)])
        points = [t["dp_pseudo"][g] for r, t in zip(rois, targets, strict=True) for g in r.gt.tolist()]
        samples = point_samples(points, gt_boxes, boxes, out.I.shape[-1])
        return self.point_losses(out, samples, len(targets), "_pseudo", self.w.pseudo)

    def __call__(self, out: DensePoseOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        boxes = torch.cat([r.boxes for r in rois])
        gt_boxes = torch.cat([t["boxes"][r.gt] for r, t in zip(rois, targets, strict=True)])
        points = [t["dp_points"][g] for r, t in zip(rois, targets, strict=True) for g in r.gt.tolist()]
        masks = torch.cat([t["dp_masks"][r.gt] for r, t in zip(rois, targets, strict=True)])
        losses = self.roi_losses(out, rois, targets)
        if any("dp_pseudo" in t for t in targets):
            losses |= self.pseudo_losses(out, rois, targets)
        dense = torch.tensor([len(p) > 0 for p in points], dtype=torch.bool, device=boxes.device)
        if not dense.any():
            zero = zero_loss(*(getattr(out, name) for name in self.dense_maps))
            return {**{f"loss_densepose_{name}": zero for name in self.dense_maps}, **losses}
        idx = torch.where(dense)[0]
        sel = out[idx]
        size = sel.M.shape[-1]
        samples = point_samples([points[i] for i in idx.tolist()], gt_boxes[idx], boxes[idx], size)
        s_gt = resample_masks(masks[idx], gt_boxes[idx], boxes[idx], size)  # (n, S, S)
        return {**losses, **self.dense_losses(DenseTargets(sel, samples, s_gt), len(targets))}
