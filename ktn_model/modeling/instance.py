"""Optional image-level instance strengthening (IS), off in the released code (docs/method.md, "Instance
strengthening (IS)").

A 1×1 conv on P^c predicts person / background at stride 4, trained with pixel cross-entropy against the
union of the persons' body masks. The targets carry no person segmentations, so the body mask is
S_gt > 0 of the DensePose-annotated persons; pixels inside the boxes of the other persons are ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ktn_model.data.person_masks import person_union, resample_masks

from .layers import msra_fill

IGNORE = -1


def person_masks(target: dict, size: tuple[int, int], stride: int = 4) -> Tensor:
    """One image's (h, w) int64 IS target on the stride-``stride`` grid: 1 person, 0 background, -1 ignored."""
    h, w = size
    boxes, valid, masks = target["boxes"], target["dp_valid"], target["dp_masks"]
    frame = boxes.new_tensor([[0.0, 0.0, w * stride, h * stride]])  # the whole image as one box
    region = frame.expand(len(boxes), 4)
    others = resample_masks(torch.ones_like(masks[~valid]), boxes[~valid], region[~valid], size) > 0
    out = torch.zeros(size, dtype=torch.long, device=boxes.device)
    out[others.any(0)] = IGNORE
    out[person_union(target, frame, size)[0]] = 1
    return out


class InstanceStrengthening(nn.Module):
    """P^c (B, C, h, w) + targets -> the weighted IS loss (a scalar)."""

    def __init__(self, channels: int, weight: float = 1.0):
        super().__init__()
        self.predictor = msra_fill(nn.Conv2d(channels, 2, 1))
        self.weight = weight

    def forward(self, p_c: Tensor, targets: list[dict]) -> Tensor:
        gt = torch.stack([person_masks(t, tuple(p_c.shape[-2:])) for t in targets])
        logits = self.predictor(p_c)
        if not (gt != IGNORE).any():
            return logits.sum() * 0.0
        return self.weight * F.cross_entropy(logits, gt, ignore_index=IGNORE)
