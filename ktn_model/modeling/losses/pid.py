"""PID-net's losses (docs/other_systems.md, "PID-net"): the chart losses and S, plus the intermediate semantic-mask
loss, the instance-aware term and the extra dense I/U/V terms."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ktn_model.data.person_masks import person_union, resample_masks

from ..predictors.pid import PIDOutput
from ..registry import DENSEPOSE_LOSSES
from .chart import DensePoseChartLoss, DensePoseLossWeights, DenseTargets
from .sampling import DensePoseRoIs, PointSamples, uv_loss_scale, zero_loss

# PID-net's dense targets paint each annotated point and its four diagonal neighbours on the heat-map grid.
STENCIL = ((0, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))


class PIDWeights(NamedTuple):
    """The semantic-mask (``INTER_WEIGHTS`` × ``INDEX_WEIGHTS``), instance-aware and extra dense weights."""

    semantic: float = 0.2
    instance: float = 2.0
    extra_dense: float = 0.1


def instance_aware_loss(logits: Tensor, fg: Tensor) -> Tensor:
    """PID-net's instance-aware term (its ``USE_CLS_EMBS``): the 2-channel mask logits (N, 2, S, S) averaged under
    each RoI's ground-truth foreground fg (N, S, S) bool and under its background, each average classified
    (cross-entropy, mean over the averages) as person (1) and background (0). A RoI whose foreground or
    background is empty contributes no average for it."""
    weights = torch.stack([(~fg).to(logits.dtype), fg.to(logits.dtype)], dim=1)  # (N, 2 regions, S, S)
    area = weights.sum((2, 3))  # (N, 2)
    pooled = torch.einsum("nchw,nrhw->nrc", logits, weights) / area.clamp(min=1)[..., None]  # (N, region, 2)
    present = area > 0
    labels = torch.arange(2, device=logits.device).expand_as(present)[present]  # region 0 = bg -> 0, 1 = fg -> 1
    return F.cross_entropy(pooled[present], labels) if present.any() else zero_loss(logits)


def stencil_samples(s: PointSamples, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The nearest grid cell of every point and its diagonal neighbours (clamped to the grid): (roi, y, x,
    point index), each (5·P,)."""
    x = (s.x_lo + s.w_x).round().long()
    y = (s.y_lo + s.w_y).round().long()
    point = torch.arange(len(x), device=x.device)
    cells = [((y + dy).clamp(0, size - 1), (x + dx).clamp(0, size - 1)) for dy, dx in STENCIL]
    return (s.roi.repeat(len(STENCIL)), torch.cat([c[0] for c in cells]), torch.cat([c[1] for c in cells]),
            point.repeat(len(STENCIL)))


@DENSEPOSE_LOSSES.register("PIDLoss")
class PIDLoss(DensePoseChartLoss):
    """On a ``PIDOutput``: U, V, I, S, M on the RoIs with points (+ the extra dense I, U, V there); the semantic-mask
    and instance-aware terms on every RoI."""

    dense_maps = ("U", "V", "I", "S", "M")

    def __init__(self, weights: DensePoseLossWeights = DensePoseLossWeights(), pid: PIDWeights = PIDWeights()):
        super().__init__(weights)
        self.pid = pid

    @classmethod
    def from_config(cls, cfg) -> PIDLoss:
        chart, head = super().from_config(cfg), cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(chart.w, PIDWeights(head.PID.INTER_WEIGHTS * head.INDEX_WEIGHTS, head.PID.CLS_EMBS_WEIGHT,
                                       head.PID.EXTRA_DENSE_WEIGHT))

    def roi_losses(self, out: PIDOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        """The semantic target: every annotated person's mask seen from the RoI; the instance mask: its own."""
        size = tuple(out.P.shape[-2:])
        semantic = torch.cat([person_union(t, r.boxes, size) for r, t in zip(rois, targets, strict=True)])
        own = torch.cat([resample_masks((t["dp_masks"][r.gt] > 0).to(torch.uint8), t["boxes"][r.gt], r.boxes, size)
                         for r, t in zip(rois, targets, strict=True)]) > 0  # (N, S, S)
        if len(own) == 0:
            zero = zero_loss(out.P, out.M)
            return {"loss_densepose_semantic": zero, "loss_densepose_instance": zero}
        return {"loss_densepose_semantic": self.pid.semantic * F.cross_entropy(out.P, semantic.long()),
                "loss_densepose_instance": self.pid.instance * instance_aware_loss(out.M, own)}

    def zero_losses(self, out: PIDOutput) -> dict[str, Tensor]:
        """The chart's zero terms and the extra dense ones (a batch without annotated points has every key)."""
        zero = super().zero_losses(out)
        return {**zero, **{f"loss_densepose_dense_{name}": zero["loss_densepose_I"] for name in "IUV"}}

    def dense_losses(self, t: DenseTargets, num_images: int) -> dict[str, Tensor]:
        chart = super().dense_losses(t, num_images)
        s, size = t.points, t.out.I.shape[-1]
        roi, y, x, point = stencil_samples(s, size)
        part = s.I[point]
        keep = part > 0
        roi, y, x, point, part = roi[keep], y[keep], x[keep], point[keep], part[keep]
        uv = self.w.uv * uv_loss_scale(num_images) * self.pid.extra_dense
        i_logits = t.out.I[roi, :, y, x]  # (5·P_fg, 25)
        extra = {"loss_densepose_dense_I": self.pid.extra_dense * self.w.i * F.cross_entropy(i_logits, part)
                 if len(part) else zero_loss(t.out.I)}
        for name, maps, values in (("U", t.out.U, s.U), ("V", t.out.V, s.V)):
            extra[f"loss_densepose_dense_{name}"] = uv * F.smooth_l1_loss(maps[roi, part, y, x], values[point],
                                                                         reduction="sum")
        return {**chart, "loss_densepose_S": self.w.s * F.cross_entropy(t.out.S, t.masks), **extra}
