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
    part_values,
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


def roi_targets(rois: list[DensePoseRoIs], targets: list[dict], field: str) -> tuple[Tensor, Tensor, list[Tensor]]:
    """The RoIs' boxes (N, 4), their GT boxes (N, 4) and, one per RoI, its GT's entry of the list ``field``."""
    boxes = torch.cat([r.boxes for r in rois])
    gt_boxes = torch.cat([t["boxes"][r.gt] for r, t in zip(rois, targets, strict=True)])
    return boxes, gt_boxes, [t[field][g] for r, t in zip(rois, targets, strict=True) for g in r.gt.tolist()]


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

    def zero_losses(self, out: DensePoseOutput) -> dict[str, Tensor]:
        """The ``dense_losses`` keys at 0, connected to the ``dense_maps`` (a batch without annotated points)."""
        zero = zero_loss(*(getattr(out, name) for name in self.dense_maps))
        return {f"loss_densepose_{name}": zero for name in self.dense_maps}

    def roi_losses(self, out: DensePoseOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        return {}

    def dense_losses(self, t: DenseTargets, num_images: int) -> dict[str, Tensor]:
        """U, V, I at the points; M against the masks (fg = any part; the 14 coarse parts when M has 15 channels)."""
        coarse = t.masks if t.out.M.shape[1] > 2 else t.masks.clamp(0, 1)
        return {
            **self.uv_losses(t, self.w.uv * uv_loss_scale(num_images)),
            "loss_densepose_I": self.w.i * self.index_loss(t.out, t.points),
            "loss_densepose_M": self.w.m * F.cross_entropy(t.out.M, coarse),
        }

    @staticmethod
    def index_loss(out: DensePoseOutput, s: PointSamples) -> Tensor:
        """Cross-entropy of I at the point samples (0, connected, without points)."""
        return F.cross_entropy(bilinear_sample(out.I, s), s.I) if len(s.I) else zero_loss(out.I)

    def pseudo_losses(self, out: DensePoseOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        """I, U, V at the teacher's pseudo-labelled points (``dp_pseudo``) × the pseudo-label weight, as
        ``loss_densepose_{U,V,I}_pseudo``; zero (still connected) when the RoIs have none."""
        boxes, gt_boxes, points = roi_targets(rois, targets, "dp_pseudo")
        samples = point_samples(points, gt_boxes, boxes, out.I.shape[-1])
        uv = self.uv_losses(DenseTargets(out, samples, None), self.w.pseudo * self.w.uv * uv_loss_scale(len(targets)))
        return {**{f"{name}_pseudo": loss for name, loss in uv.items()},
                "loss_densepose_I_pseudo": self.w.pseudo * self.w.i * self.index_loss(out, samples)}

    def uv_losses(self, t: DenseTargets, weight: float) -> dict[str, Tensor]:
        """Smooth L1 of U and V at the points on the body, summed, times ``weight``."""
        s, fg = t.points, t.points.I > 0
        return {"loss_densepose_U": weight * F.smooth_l1_loss(part_values(t.out.U, s), s.U[fg], reduction="sum"),
                "loss_densepose_V": weight * F.smooth_l1_loss(part_values(t.out.V, s), s.V[fg], reduction="sum")}

    def __call__(self, out: DensePoseOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        boxes, gt_boxes, points = roi_targets(rois, targets, "dp_points")
        masks = torch.cat([t["dp_masks"][r.gt] for r, t in zip(rois, targets, strict=True)])
        losses = self.roi_losses(out, rois, targets)
        if any("dp_pseudo" in t for t in targets):
            losses |= self.pseudo_losses(out, rois, targets)
        dense = torch.tensor([len(p) > 0 for p in points], dtype=torch.bool, device=boxes.device)
        if not dense.any():
            return {**self.zero_losses(out), **losses}
        idx = torch.where(dense)[0]
        sel = out[idx]
        size = sel.M.shape[-1]
        samples = point_samples([points[i] for i in idx.tolist()], gt_boxes[idx], boxes[idx], size)
        s_gt = resample_masks(masks[idx], gt_boxes[idx], boxes[idx], size)  # (n, S, S)
        return {**losses, **self.dense_losses(DenseTargets(sel, samples, s_gt), len(targets))}
