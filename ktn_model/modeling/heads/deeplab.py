"""detectron2's ``DensePoseDeepLabHead``: ASPP [+ non-local block] then stacked conv-GN-ReLU layers.

The module and parameter names are detectron2's, so the ``roi_heads.densepose_head.*`` entries of a detectron2
model-zoo checkpoint load by name. docs/densepose_heads.md describes the layers and the key list.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import conv_gn_relu
from ..registry import DENSEPOSE_HEADS
from .stacked import StackedConvs

ASPP_DILATIONS = (6, 12, 56)


class ASPPPooling(nn.Sequential):
    """Image pooling branch: global average, 1×1 conv (no bias) + GN(32) + ReLU, bilinear resize back.

    (N, c_in, H, W) -> (N, c_out, H, W); children ``1`` (conv) and ``2`` (norm) hold the weights.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), *conv_gn_relu(c_in, c_out, kernel=1))

    def forward(self, x: Tensor) -> Tensor:
        pooled = super().forward(x)  # (N, c_out, 1, 1)
        return F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """DeepLabV3 atrous spatial pyramid pooling with GroupNorm, as in detectron2's DensePose project.

    ``convs``: 1×1; 3×3 at each of ``dilations``; image pooling; each conv without bias + GN(32) + ReLU.
    Concatenated (5·c_out) -> ``project`` 1×1 conv without bias + ReLU. (N, c_in, H, W) -> (N, c_out, H, W).
    Convs keep PyTorch's default init, as detectron2 does here.
    """

    def __init__(self, c_in: int, c_out: int, dilations: tuple[int, ...] = ASPP_DILATIONS):
        super().__init__()
        branches = [conv_gn_relu(c_in, c_out, kernel=1)]
        branches += [conv_gn_relu(c_in, c_out, kernel=3, dilation=d) for d in dilations]
        self.convs = nn.ModuleList(branches + [ASPPPooling(c_in, c_out)])
        self.project = nn.Sequential(nn.Conv2d(len(self.convs) * c_out, c_out, 1, bias=False), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))  # (N, 5·c_out, H, W) in


class NONLocalBlock2D(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018) in detectron2's DensePose configuration.

    inter = channels // 2 (at least 1); ``theta``, ``phi.0``, ``g.0`` are 1×1 convs (bias) to inter channels,
    ``phi`` and ``g`` then max-pool 2×2; ``W`` = 1×1 conv back to ``channels`` + GroupNorm(32) whose weight and
    bias start at 0, so the block starts as the identity. z = x + W(softmax(θᵀφ) gᵀ).
    (N, channels, H, W) -> (N, channels, H, W), H and W even.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.inter_channels = max(channels // 2, 1)
        self.g = nn.Sequential(nn.Conv2d(channels, self.inter_channels, 1), nn.MaxPool2d(2))
        self.W = nn.Sequential(nn.Conv2d(self.inter_channels, channels, 1), nn.GroupNorm(32, channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)
        self.theta = nn.Conv2d(channels, self.inter_channels, 1)
        self.phi = nn.Sequential(nn.Conv2d(channels, self.inter_channels, 1), nn.MaxPool2d(2))

    def forward(self, x: Tensor) -> Tensor:
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (N, H·W, inter)
        phi = self.phi(x).flatten(2)  # (N, inter, H·W/4)
        g = self.g(x).flatten(2).transpose(1, 2)  # (N, H·W/4, inter)
        attention = F.softmax(theta @ phi, dim=-1)  # (N, H·W, H·W/4)
        y = (attention @ g).transpose(1, 2).reshape(x.shape[0], self.inter_channels, *x.shape[2:])  # (N, inter, H, W)
        return x + self.W(y)


@DENSEPOSE_HEADS.register("DensePoseDeepLabHead")
class DensePoseDeepLabHead(StackedConvs):
    """``ASPP`` (c_in -> c_in) [+ ``NLBlock``] then ``num_convs`` × (3×3 conv + GN(32) + ReLU).

    (N, c_in, R, R) -> (N, channels, R, R). ``norm`` "GN" (detectron2's ``DEEPLAB.NORM``) or "" (convs with bias,
    no norm); ``nonlocal_on`` is detectron2's ``DEEPLAB.NONLOCAL_ON``.
    """

    def __init__(self, c_in: int, channels: int = 512, num_convs: int = 8, kernel: int = 3, norm: str = "GN",
                 nonlocal_on: bool = False):
        super().__init__()
        self.ASPP = ASPP(c_in, c_in)
        self.NLBlock = NONLocalBlock2D(c_in) if nonlocal_on else None
        self.add_body_convs(c_in, channels, num_convs, kernel, norm)

    def forward(self, x: Tensor) -> Tensor:
        x = self.ASPP(x)  # (N, c_in, R, R)
        if self.NLBlock is not None:
            x = self.NLBlock(x)
        return self.body(x)

    @classmethod
    def from_config(cls, cfg, c_in: int) -> DensePoseDeepLabHead:
        deeplab = cfg.MODEL.ROI_DENSEPOSE_HEAD.DEEPLAB
        return cls(c_in, **cls.head_dims(cfg), norm=deeplab.NORM, nonlocal_on=bool(deeplab.NONLOCAL_ON))
