"""HRFPN: HRNet plus a five-level feature pyramid p1..p5, the release's ``build_hrfpn_backbone``
(docs/architecture.md, "HRNet and HRFPN").

Every HRNet branch is brought to (about) stride 4 by a learned up-sampling, the branches are cropped to a common
size and concatenated, and each pyramid level is one strided convolution of that concatenation followed by a
3×3 conv. Parameter names are the release's (``bottom_up``, ``fpn_conv``, ``interp_conv``,
``reduction_pooling_conv``), in its state-dict order.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from .detectron2_layout import SAME_NAMES
from .hrnet import HRNet, StageSpec
from .registry import BACKBONES

NUM_LEVELS = 5  # p1..p5; the release takes len(MODEL.ROI_HEADS.IN_FEATURES), five in all its HRNet configs


class HRFPNBackbone(nn.Module):
    """``images (B, 3, H, W) -> {"p1": (B, C, h_1, w_1), ..., "p5": (B, C, h_5, w_5)}``, C = ``out_channels``.

    Branch i of the HRNet (stride 2^(i+2), size H_i × W_i) goes through ``interp_conv.i``:
    ConvTranspose2d(k 4, stride 2^i, no padding, no bias) + BN + ReLU, size (H_i − 1)·2^i + 4. All branches are
    cropped (top-left) to the smallest height and width, h × w (the last branch's), and concatenated (Σ C_i
    channels, 480 for W32).
    Level k (k = 0..4) is ``reduction_pooling_conv.k``: Conv2d(kernel = stride = 2^k, bias) + BN + ReLU, size
    ⌊h/2^k⌋ × ⌊w/2^k⌋; then every level is cropped to 2^(4−k) × the coarsest level's size (h_5 = ⌊h/16⌋) and
    ``fpn_conv.k`` (3×3 conv with bias) gives p(k+1). So h_k = 2^(5−k)·⌊h/16⌋ is a little smaller than H/2^(k+1):
    for 800 px, h = 196 and p1..p5 are 192, 96, 48, 24, 12 (the feature maps cover the top-left 768 px).

    ``strides`` are the nominal ones (4..64), which RPN anchors and RoI pooling must use; the release pads no
    input (``size_divisibility`` 0).
    """

    size_divisibility = 0

    def __init__(self, *, bottom_up: HRNet, out_channels: int = 256, num_levels: int = NUM_LEVELS):
        super().__init__()
        widths = bottom_up.out_channels
        self.bottom_up = bottom_up
        self.fpn_conv = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in range(num_levels))
        self.interp_conv = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(c, c, 4, stride=2 ** i, bias=False), nn.BatchNorm2d(c),
                          nn.ReLU(inplace=True))
            for i, c in enumerate(widths))
        self.reduction_pooling_conv = nn.ModuleList(
            nn.Sequential(nn.Conv2d(sum(widths), out_channels, 2 ** k, stride=2 ** k), nn.BatchNorm2d(out_channels),
                          nn.ReLU(inplace=True))
            for k in range(num_levels))
        self.out_channels = out_channels
        self.strides = {f"p{k + 1}": 2 ** (k + 2) for k in range(num_levels)}
        self.roi_levels = list(self.strides)  # box pooling and MID use all five levels, as released

    def detectron2_rules(self) -> list:
        """The release's names are ours."""
        return SAME_NAMES

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        branches = [up(x) for up, x in zip(self.interp_conv, self.bottom_up(images), strict=True)]
        # The smallest branch is the last: branch i is 2^i·⌊(H_0 − 1)/2^i⌋ + 4 tall, which never grows with i.
        # Reading the size from it (not min() over Python ints) keeps it dynamic in a traced graph.
        h, w = branches[-1].shape[-2:]
        joint = torch.cat([x[..., :h, :w] for x in branches], dim=1)  # (B, Σ C_i, h, w)
        levels = [reduce(joint) for reduce in self.reduction_pooling_conv]
        h5, w5 = levels[-1].shape[-2:]
        last = len(levels) - 1
        return OrderedDict(
            (f"p{k + 1}", conv(x[..., : h5 * 2 ** (last - k), : w5 * 2 ** (last - k)]))
            for k, (conv, x) in enumerate(zip(self.fpn_conv, levels, strict=True)))


def hrnet_stages(cfg) -> tuple[StageSpec, ...]:
    """``MODEL.HRNET.STAGE2..4`` as ``StageSpec``s, checked for consistency."""
    stages = []
    for k in (2, 3, 4):
        node = cfg.MODEL.HRNET[f"STAGE{k}"]
        if not node.NUM_BRANCHES == len(node.NUM_BLOCKS) == len(node.NUM_CHANNELS):
            raise ValueError(f"MODEL.HRNET.STAGE{k}: NUM_BRANCHES {node.NUM_BRANCHES}, but {len(node.NUM_BLOCKS)} "
                             f"NUM_BLOCKS and {len(node.NUM_CHANNELS)} NUM_CHANNELS")
        if node.FUSE_METHOD != "SUM":
            raise ValueError(f"MODEL.HRNET.STAGE{k}.FUSE_METHOD must be SUM, got {node.FUSE_METHOD!r}")
        stages.append(StageSpec(num_modules=node.NUM_MODULES, block=node.BLOCK, num_blocks=tuple(node.NUM_BLOCKS),
                                num_channels=tuple(node.NUM_CHANNELS)))
    return tuple(stages)


@BACKBONES.register("build_hrfpn_backbone")
def build_hrfpn_backbone(cfg) -> HRFPNBackbone:
    """HRNet (``MODEL.HRNET.*``) + HRFPN with ``MODEL.HRNET.HRFPN.OUT_CHANNELS`` channels on p1..p5."""
    hrnet = HRNet(stages=hrnet_stages(cfg), stem_width=cfg.MODEL.HRNET.STEM_INPLANES)
    return HRFPNBackbone(bottom_up=hrnet, out_channels=cfg.MODEL.HRNET.HRFPN.OUT_CHANNELS)
