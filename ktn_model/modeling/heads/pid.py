"""PID-net's DensePose RoI head (docs/other_systems.md, "PID-net"): a semantic-to-instance cascade inside the RoI.

A trunk of stacked convs; an intermediate branch up-samples the trunk ×4 and predicts the *semantic* person
mask of the box (every person in it, the intermediate supervision); the main branch continues the trunk, is
up-sampled the same way and fused with the intermediate features by a 1×1 conv, so that the instance outputs
(``predictors/pid.py``) see where all persons are.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..layers import conv_relu, msra_fill
from ..registry import DENSEPOSE_HEADS

PREDICTOR = "DensePosePIDPredictor"  # the only predictor that reads ``PIDFeatures``


class PIDFeatures(NamedTuple):
    """What the PID head passes to its predictor, both at 4R × 4R: ``features`` (N, C, 4R, 4R) the fused
    features and ``semantic`` (N, 2, 4R, 4R) the intermediate semantic-mask logits (background, person)."""

    features: Tensor
    semantic: Tensor


def upsample_x4(channels: int, kernel: int) -> nn.Sequential:
    """Two k×k stride-2 deconvs, each + ReLU: (N, C, R, R) -> (N, C, 4R, 4R)."""
    layers = []
    for _ in range(2):
        layers += [msra_fill(nn.ConvTranspose2d(channels, channels, kernel, stride=2, padding=kernel // 2 - 1)),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@DENSEPOSE_HEADS.register("DensePosePIDHead")
class DensePosePIDHead(nn.Module):
    """(N, c_in, R, R) -> ``PIDFeatures`` at 4R.

    ``trunk``: num_convs / 2 × (3×3 conv with bias + ReLU); ``inter_up``: ×4 deconvs -> the intermediate
    features; ``semantic``: 3×3 conv to 2 logits; ``body``: num_convs / 2 more convs; ``body_up``: ×4 deconvs;
    ``fuse``: 1×1 conv of [body, intermediate] (2C channels) to C + ReLU. MSRA fill throughout.
    """

    def __init__(self, c_in: int, channels: int = 512, num_convs: int = 8, kernel: int = 3, deconv_kernel: int = 4):
        super().__init__()
        if num_convs < 2 or num_convs % 2:
            raise ValueError(f"DensePosePIDHead needs an even NUM_STACKED_CONVS of at least 2, got {num_convs}")
        half = num_convs // 2
        self.trunk = nn.Sequential(*(conv_relu(c_in if k == 0 else channels, channels, kernel) for k in range(half)))
        self.inter_up = upsample_x4(channels, deconv_kernel)
        self.semantic = msra_fill(nn.Conv2d(channels, 2, 3, padding=1))
        self.body = nn.Sequential(*(conv_relu(channels, channels, kernel) for _ in range(half)))
        self.body_up = upsample_x4(channels, deconv_kernel)
        self.fuse = conv_relu(2 * channels, channels, kernel=1)
        self.out_channels = channels

    @classmethod
    def from_config(cls, cfg, c_in: int) -> DensePosePIDHead:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        if head.PREDICTOR_NAME != PREDICTOR:
            raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.NAME DensePosePIDHead needs PREDICTOR_NAME {PREDICTOR}, "
                             f"got {head.PREDICTOR_NAME}")
        if head.UP_SCALE != 2:
            raise ValueError(f"DensePosePIDHead up-samples ×4 itself: MODEL.ROI_DENSEPOSE_HEAD.UP_SCALE must be 2, "
                             f"got {head.UP_SCALE}")
        if head.CASCADE_ON:
            raise ValueError("MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON is not available with DensePosePIDHead")
        return cls(c_in, head.CONV_HEAD_DIM, head.NUM_STACKED_CONVS, head.CONV_HEAD_KERNEL, head.DECONV_KERNEL)

    def forward(self, x: Tensor) -> PIDFeatures:
        trunk = self.trunk(x)  # (N, C, R, R)
        inter = self.inter_up(trunk)  # (N, C, 4R, 4R)
        fused = self.fuse(torch.cat([self.body_up(self.body(trunk)), inter], dim=1))  # (N, C, 4R, 4R)
        return PIDFeatures(fused, self.semantic(inter))
