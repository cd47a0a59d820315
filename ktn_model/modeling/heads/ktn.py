"""DensePose RoI head: ScaleConvs then stacked 3×3 conv-GN-ReLU layers on 28×28 RoI features.

See docs/method.md, "DensePose head".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import conv_gn_relu, msra_fill
from ..registry import DENSEPOSE_HEADS


class ScaleConvs(nn.Module):
    """One shared 3×3 weight applied at dilations 1, 6, 12 plus a 1×1 branch, each GN + ReLU, concat, 1×1 + ReLU.

    (N, C, H, W) -> (N, C, H, W).
    """

    DILATIONS = (1, 6, 12)

    def __init__(self, channels: int):
        super().__init__()
        self.shared = nn.Parameter(torch.empty(channels, channels, 3, 3))
        nn.init.kaiming_normal_(self.shared, mode="fan_out", nonlinearity="relu")
        self.norms = nn.ModuleList([nn.GroupNorm(32, channels) for _ in self.DILATIONS])
        self.point = conv_gn_relu(channels, channels, kernel=1)
        msra_fill(self.point[0])
        self.project = msra_fill(nn.Conv2d(4 * channels, channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        branches = [F.relu(norm(F.conv2d(x, self.shared, padding=d, dilation=d)))
                    for d, norm in zip(self.DILATIONS, self.norms, strict=True)]
        return F.relu(self.project(torch.cat(branches + [self.point(x)], dim=1)))


@DENSEPOSE_HEADS.register("DensePoseKTNHead")
class DensePoseKTNHead(nn.Sequential):
    """[ScaleConvs] + ``num_convs`` × (3×3 conv, no bias, GN(32), ReLU): (N, c_in, 28, 28) -> (N, channels, 28, 28)."""

    def __init__(self, c_in: int = 256, channels: int = 512, num_convs: int = 8, kernel: int = 3,
                 scale_convs: bool = True):
        layers = [ScaleConvs(c_in)] if scale_convs else []
        for k in range(num_convs):
            block = conv_gn_relu(c_in if k == 0 else channels, channels, kernel)
            msra_fill(block[0])
            layers.append(block)
        super().__init__(*layers)
        self.out_channels = channels if num_convs else c_in

    @classmethod
    def from_config(cls, cfg, c_in: int) -> DensePoseKTNHead:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(c_in, head.CONV_HEAD_DIM, head.NUM_STACKED_CONVS, head.CONV_HEAD_KERNEL, head.SCALE_CONVS_ON)

    # The release registers ScaleConvs twice (``ScaleConvs`` and ``ScaleConv``): its state dict repeats them.
    detectron2_aliases = {"ScaleConv.": "ScaleConvs."}

    def detectron2_rules(self) -> list:
        """The release's ``DensePoseKTNHead`` names: ``ScaleConvs.*``, then ``body_conv_fcnK`` conv + ``norm``."""
        first = int(isinstance(self[0], ScaleConvs))  # index of the first stacked conv in this Sequential
        return [
            (r"0\.shared", lambda m: "ScaleConvs.weight"),
            (r"0\.point\.(\d)\.(\w+)", lambda m: f"ScaleConvs.conv1.{m[1]}.{m[2]}"),
            (r"0\.norms\.(\d)\.(\w+)", lambda m: f"ScaleConvs.norms.{m[1]}.{m[2]}"),
            (r"0\.project\.weight", lambda m: "ScaleConvs.project.0.weight"),
            (r"(\d+)\.0\.weight", lambda m: f"body_conv_fcn{int(m[1]) + 1 - first}.weight"),
            (r"(\d+)\.1\.(\w+)", lambda m: f"body_conv_fcn{int(m[1]) + 1 - first}.norm.{m[2]}"),
        ]
