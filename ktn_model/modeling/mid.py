"""MID, the multi-instance decoder that fuses P2..P5 into one stride-4 map P^c.

``MIDv2`` is the released KTNv2 decoder, ``MIDv1`` the KTNv1 one (docs/method.md, "MID, the multi-instance
decoder"). Both take ``[P2, P3, P4, P5]`` with strides 4..32 and return (B, C_out, H/4, W/4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import conv_gn_relu, conv_relu, msra_fill
from .registry import DECODERS


def check_pyramid(features: list[Tensor]) -> None:
    """Raise a clear error unless level i is exactly the finest level's size / 2^i (for L levels, the finest
    size is then a multiple of 2^(L-1)).

    That holds when the padded image is a multiple of 32 (``INPUT.SIZE_DIVISIBILITY``) for a 4-level FPN, and
    always for HRFPN, which crops its levels to that rule.
    """
    h, w = features[0].shape[-2:]
    sizes = [tuple(f.shape[-2:]) for f in features]
    step = 1 << (len(features) - 1)
    if h % step or w % step or sizes != [(h >> i, w >> i) for i in range(len(features))]:
        raise ValueError(
            f"MID needs the padded image size to be a multiple of 32 (INPUT.SIZE_DIVISIBILITY); "
            f"got FPN levels of sizes {sizes}"
        )


def space_to_depth(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): the four (row, col) parity sub-grids stacked block-wise.

    Block order (even, even), (even, odd), (odd, even), (odd, odd); channels [kC, (k+1)C) hold block k
    (not ``nn.PixelUnshuffle``'s interleaved order).
    """
    return torch.cat([x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]], dim=1)


class FA(nn.Module):
    """Feature adjustment (FA): space-to-depth then 3×3 conv 4C -> C + ReLU; (B,C,H,W) -> (B,C,H/2,W/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv_relu(4 * channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(space_to_depth(x))


class IFA(nn.Sequential):
    """Inverse feature adjustment (IFA): 1×1 conv C -> 4C + ReLU + PixelShuffle(2); (B,C,H,W) -> (B,C,2H,2W).

    Output channel c at (2h+i, 2w+j) is conv channel 4c + 2i + j.
    """

    def __init__(self, channels: int):
        super().__init__(conv_relu(channels, 4 * channels, kernel=1), nn.PixelShuffle(2))


class Upsample2x(nn.Module):
    """Bilinear ×2 (align_corners=False): (B, C, H, W) -> (B, C, 2H, 2W)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def scale_head(level: int, c_in: int, channels: int, upsample) -> nn.Sequential:
    """max(1, level) stages of [3×3 conv + ReLU, then ``upsample(channels)`` unless at stride 4].

    ``level`` is 0 for P2 (stride 4) .. 3 for P5; the head maps (B, c_in, H, W) to (B, channels, H·2^level, ...).
    """
    stages = []
    for k in range(max(1, level)):
        stages.append(conv_relu(c_in if k == 0 else channels, channels))
        if level > 0:
            stages.append(upsample(channels))
    return nn.Sequential(*stages)


class MultiScaleFusion(nn.Module):
    """The "trident" step: [1×1, 3×3 d1, d2, d3] conv-GN-ReLU branches, concat, 1×1 conv with bias."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.branches = nn.ModuleList(
            [conv_gn_relu(channels, channels, kernel=1)] + [conv_gn_relu(channels, channels, 3, d) for d in (1, 2, 3)]
        )
        self.predictor = msra_fill(nn.Conv2d(4 * channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.predictor(torch.cat([branch(x) for branch in self.branches], dim=1))


def first_level(num_levels: int) -> int:
    """The original code's number of the finest level, which its decoder names: P2 of a 4-level FPN, p1 of the
    5-level HRFPN."""
    return 2 if num_levels == 4 else 1


def decoder_dims(cfg) -> dict:
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    return dict(c_in=cfg.MODEL.FPN.OUT_CHANNELS, channels=head.DECODER_CONV_DIMS, out_channels=head.DECODER_OUT_DIMS)


@DECODERS.register("MIDv2")
class MIDv2(nn.Module):
    """Released MIDv2: cumulative bottom-up FA fusion, per-level IFA scale heads summed, trident step.

    ``[P2..P5]`` each (B, c_in, H/2^(i+2), W/2^(i+2)) -> P^c (B, out_channels, H/4, W/4).
    """

    def __init__(self, c_in: int = 256, channels: int = 256, out_channels: int = 256, multi_scale: bool = True,
                 num_levels: int = 4):
        super().__init__()
        self.fa = nn.ModuleList([FA(c_in) for _ in range(num_levels - 1)])
        self.scale_heads = nn.ModuleList([scale_head(i, c_in, channels, IFA) for i in range(num_levels)])
        self.fusion = MultiScaleFusion(channels, out_channels) if multi_scale else msra_fill(
            nn.Conv2d(channels, out_channels, 1))

    def forward(self, features: list[Tensor]) -> Tensor:
        check_pyramid(features)
        fused = [features[0]]
        for fa, p in zip(self.fa, features[1:], strict=True):
            fused.append(p + fa(fused[-1]))
        x = sum(head(level) for head, level in zip(self.scale_heads, fused, strict=True))
        return self.fusion(x)

    @classmethod
    def from_config(cls, cfg, num_levels: int) -> MIDv2:
        return cls(**decoder_dims(cfg), multi_scale=cfg.MODEL.ROI_DENSEPOSE_HEAD.DECODER_MULTI_SCALE_ON,
                   num_levels=num_levels)

    detectron2_prefix = "roi_heads.mid_decoder."

    def detectron2_rules(self) -> list:
        """The release's names. Ours: [conv, IFA] per stage (IFA = 1×1 conv + pixel shuffle); the release:
        [conv, 1×1 conv, shuffle], so stage j's modules are at 3j and 3j + 1."""
        k = first_level(len(self.scale_heads))
        return [
            (r"fa\.(\d)\.conv\.0\.(\w+)", lambda m: f"bottom_up_p{int(m[1]) + k}.adt_conv.{m[2]}"),
            (r"scale_heads\.(\d)\.(\d+)\.0\.(\w+)", lambda m: f"p{int(m[1]) + k}.{3 * (int(m[2]) // 2)}.{m[3]}"),
            (r"scale_heads\.(\d)\.(\d+)\.0\.0\.(\w+)",
             lambda m: f"p{int(m[1]) + k}.{3 * (int(m[2]) // 2) + 1}.{m[3]}"),
            (r"fusion\.branches\.(\d)\.(\d)\.(\w+)", lambda m: f"trident_convs.{m[1]}.{m[2]}.{m[3]}"),
            (r"fusion\.predictor\.(\w+)", lambda m: f"predictor.{m[1]}"),
        ]


@DECODERS.register("MIDv1")
class MIDv1(nn.Module):
    """KTNv1 decoder: per level [3×3 conv + ReLU + bilinear ×2] to stride 4, summed, 1×1 conv.

    ``[P2..P5]`` -> (B, out_channels, H/4, W/4).
    """

    def __init__(self, c_in: int = 256, channels: int = 256, out_channels: int = 256, num_levels: int = 4):
        super().__init__()
        self.scale_heads = nn.ModuleList(
            [scale_head(i, c_in, channels, lambda _: Upsample2x()) for i in range(num_levels)]
        )
        self.predictor = msra_fill(nn.Conv2d(channels, out_channels, 1))

    def forward(self, features: list[Tensor]) -> Tensor:
        check_pyramid(features)
        return self.predictor(sum(head(p) for head, p in zip(self.scale_heads, features, strict=True)))

    @classmethod
    def from_config(cls, cfg, num_levels: int) -> MIDv1:
        return cls(**decoder_dims(cfg), num_levels=num_levels)

    detectron2_prefix = "roi_heads.decoder."

    def detectron2_rules(self) -> list:
        """detectron2's DensePose decoder: the Sequential indices are the same on both sides."""
        k = first_level(len(self.scale_heads))
        return [(r"scale_heads\.(\d)\.(\d+)\.0\.(\w+)", lambda m: f"p{int(m[1]) + k}.{m[2]}.{m[3]}"),
                (r"predictor\.(\w+)", lambda m: f"predictor.{m[1]}")]


def build_mid(cfg, num_levels: int = 4) -> nn.Module | None:
    """The decoder named by ``MODEL.ROI_DENSEPOSE_HEAD.DECODER_NAME`` on ``num_levels`` pyramid levels; None when
    ``DECODER_ON`` is off."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    return DECODERS.get(head.DECODER_NAME).from_config(cfg, num_levels) if head.DECODER_ON else None
