"""detectron2's DensePose RoI heads (``DensePoseV1ConvXHead``, ``DensePoseDeepLabHead``) under detectron2's names.

The module and parameter names are detectron2's, so the ``roi_heads.densepose_head.*`` entries of a detectron2
model-zoo checkpoint, stripped of that prefix, load with ``load_state_dict(strict=True)``. See
docs/densepose_heads.md for the layer-by-layer description and the key list.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import conv_gn_relu, msra_fill

ASPP_DILATIONS = (6, 12, 56)
NORMS = ("GN", "")


class Conv2dNorm(nn.Conv2d):
    """``nn.Conv2d`` followed by an optional ``norm`` child, named as detectron2's ``layers.Conv2d`` names it.

    (N, C_in, H, W) -> (N, C_out, H', W'): conv, then ``norm`` when given (no activation: callers apply it).
    """

    def __init__(self, *args, norm: nn.Module | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm

    def forward(self, x: Tensor) -> Tensor:
        x = super().forward(x)
        return x if self.norm is None else self.norm(x)


class StackedConvs(nn.Module):
    """Base of both heads: ``num_convs`` × (``body_conv_fcnK`` same-padded conv [+ GroupNorm(32)], ReLU), MSRA fill.

    ``add_body_convs`` registers them after whatever the head registered first (detectron2's state-dict order).
    ``norm`` "GN": convs without bias, each with a ``norm`` child; "": convs with bias.
    ``body``: (N, c_in, H, W) -> (N, out_channels, H, W), out_channels = channels (c_in without convs).
    """

    def add_body_convs(self, c_in: int, channels: int, num_convs: int, kernel: int, norm: str = "") -> None:
        if norm not in NORMS:
            raise ValueError(f"DensePose head norm must be one of {NORMS}, got {norm!r}")
        self.num_convs = num_convs
        for k in range(num_convs):
            conv = Conv2dNorm(c_in if k == 0 else channels, channels, kernel, padding=kernel // 2, bias=not norm,
                              norm=nn.GroupNorm(32, channels) if norm else None)
            self.add_module(f"body_conv_fcn{k + 1}", msra_fill(conv))
        self.out_channels = channels if num_convs else c_in

    def body(self, x: Tensor) -> Tensor:
        for k in range(self.num_convs):
            x = F.relu(getattr(self, f"body_conv_fcn{k + 1}")(x))  # (N, channels, H, W)
        return x


class DensePoseV1ConvXHead(StackedConvs):
    """``num_convs`` × (3×3 conv with bias, ReLU): (N, c_in, R, R) -> (N, channels, R, R)."""

    def __init__(self, c_in: int, channels: int = 512, num_convs: int = 8, kernel: int = 3):
        super().__init__()
        self.add_body_convs(c_in, channels, num_convs, kernel)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


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


HEADS = {"DensePoseV1ConvXHead": DensePoseV1ConvXHead, "DensePoseDeepLabHead": DensePoseDeepLabHead}
