"""Backbone + FPN: ResNet / ResNeXt / MobileNetV3 feature levels P2..P5 plus P6 (``MODEL.BACKBONE.NAME``
``build_resnet_fpn_backbone`` with ``MODEL.RESNETS.DEPTH``, as detectron2 names it, or a torchvision model name).

Feature keys follow torchvision: '0'..'3' are P2..P5 (strides 4..32), 'pool' is P6 = max-pool of P5.
Conventions (MSRA stride, frozen stages): docs/architecture.md, "detectron2 conventions".

Every registered backbone returns an ordered dict of feature maps with ``out_channels`` channels and has
``strides`` (feature name -> stride, in order), ``roi_levels`` (the names the RPN's RoIs are pooled from, finest
first) and ``size_divisibility`` (the padded image's size must be a multiple of it; 0 = no padding).
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision.models import mobilenetv3, resnet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

from .registry import BACKBONES

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnext101_32x8d")
RESNET_DEPTHS = {18: "resnet18", 34: "resnet34", 50: "resnet50", 101: "resnet101"}  # MODEL.RESNETS.DEPTH
MOBILENETS = ("mobilenet_v3_large",)
# detectron2's stage order; FREEZE_AT k freezes the first k of these.
_RESNET_STAGES = (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",))


def norm_layer(name: str):
    """Backbone normalisation: "FrozenBN" (needs pretrained weights), "BN" or "GN" (32 groups)."""
    if name == "FrozenBN":
        return FrozenBatchNorm2d
    if name == "BN":
        return nn.BatchNorm2d
    if name == "GN":
        return partial(nn.GroupNorm, 32)
    raise ValueError(f"MODEL.BACKBONE.NORM must be FrozenBN, BN or GN, got {name!r}")


def _freeze(modules: list[nn.Module]) -> None:
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(False)


def stride_in_1x1(body: resnet.ResNet) -> None:
    """Move each stage's stride from the 3×3 conv to the first 1×1 of its first block (detectron2's MSRA
    ResNets, ``MODEL.RESNETS.STRIDE_IN_1X1``); torchvision puts it on the 3×3."""
    for layer in (body.layer2, body.layer3, body.layer4):
        block = layer[0]
        if not isinstance(block, resnet.Bottleneck):
            raise ValueError("MODEL.RESNETS.STRIDE_IN_1X1 needs a bottleneck ResNet (resnet50 and deeper)")
        block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)


def _resnet_body(name: str, norm, freeze_at: int, in_1x1: bool) -> tuple[nn.Module, dict[str, str], list[int]]:
    body = getattr(resnet, name)(weights=None, norm_layer=norm)
    if in_1x1:
        stride_in_1x1(body)
    _freeze([getattr(body, m) for stage in _RESNET_STAGES[:freeze_at] for m in stage])
    widths = [body.fc.in_features // 2 ** (4 - i) for i in range(1, 5)]
    return body, {f"layer{i}": str(i - 1) for i in range(1, 5)}, widths


def _mobilenet_body(name: str, norm, freeze_at: int) -> tuple[nn.Module, dict[str, str], list[int]]:
    features = getattr(mobilenetv3, name)(weights=None, norm_layer=norm).features
    # The first block of each stride-2 stage gives strides 4, 8, 16, 32.
    strided = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]
    _freeze(list(features[: ([0] + strided)[freeze_at] if freeze_at < 5 else len(features)]))
    return features, {str(i): str(k) for k, i in enumerate(strided)}, [features[i].out_channels for i in strided]


class FPNBackbone(BackboneWithFPN):
    """torchvision's ``BackboneWithFPN`` with the attributes every registered backbone has (module docstring)."""

    strides = {"0": 4, "1": 8, "2": 16, "3": 32, "pool": 64}
    roi_levels = ["0", "1", "2", "3"]

    def __init__(self, *args, size_divisibility: int = 32, **kwargs):
        super().__init__(*args, **kwargs)
        self.size_divisibility = size_divisibility

    def detectron2_rules(self) -> list:
        """detectron2's ``build_resnet_fpn_backbone`` names (``bottom_up.stem``, ``res2..5``, ``fpn_lateral2..5``,
        ``fpn_output2..5``); MobileNet bodies have no counterpart there."""
        res = "bottom_up.res{}.{}."
        return [
            (r"body\.conv1\.weight", lambda m: "bottom_up.stem.conv1.weight"),
            (r"body\.bn1\.(\w+)", lambda m: f"bottom_up.stem.conv1.norm.{m[1]}"),
            (r"body\.layer(\d)\.(\d+)\.conv(\d)\.weight",
             lambda m: res.format(int(m[1]) + 1, m[2]) + f"conv{m[3]}.weight"),
            (r"body\.layer(\d)\.(\d+)\.bn(\d)\.(\w+)",
             lambda m: res.format(int(m[1]) + 1, m[2]) + f"conv{m[3]}.norm.{m[4]}"),
            (r"body\.layer(\d)\.(\d+)\.downsample\.0\.weight",
             lambda m: res.format(int(m[1]) + 1, m[2]) + "shortcut.weight"),
            (r"body\.layer(\d)\.(\d+)\.downsample\.1\.(\w+)",
             lambda m: res.format(int(m[1]) + 1, m[2]) + f"shortcut.norm.{m[3]}"),
            (r"fpn\.inner_blocks\.(\d)\.0\.(\w+)", lambda m: f"fpn_lateral{int(m[1]) + 2}.{m[2]}"),
            (r"fpn\.layer_blocks\.(\d)\.0\.(\w+)", lambda m: f"fpn_output{int(m[1]) + 2}.{m[2]}"),
        ]


@BACKBONES.register("build_resnet_fpn_backbone", *RESNETS, *MOBILENETS)
def build_backbone(cfg) -> FPNBackbone:
    """``images (B, 3, H, W) -> {'0': P2 (B, C, H/4, W/4), ..., '3': P5, 'pool': P6}``, C = FPN.OUT_CHANNELS."""
    name, freeze_at = cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.FREEZE_AT
    if name == "build_resnet_fpn_backbone":
        if cfg.MODEL.RESNETS.DEPTH not in RESNET_DEPTHS:
            raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(RESNET_DEPTHS)}, "
                             f"got {cfg.MODEL.RESNETS.DEPTH}")
        name = RESNET_DEPTHS[cfg.MODEL.RESNETS.DEPTH]
    if not 0 <= freeze_at <= 5:
        raise ValueError(f"MODEL.BACKBONE.FREEZE_AT must be in 0..5, got {freeze_at}")
    norm = norm_layer(cfg.MODEL.BACKBONE.NORM)
    if name in RESNETS:
        body, return_layers, widths = _resnet_body(name, norm, freeze_at, cfg.MODEL.RESNETS.STRIDE_IN_1X1)
    elif cfg.MODEL.RESNETS.STRIDE_IN_1X1:
        raise ValueError("MODEL.RESNETS.STRIDE_IN_1X1 applies to ResNets only; set it to False")
    else:
        body, return_layers, widths = _mobilenet_body(name, norm, freeze_at)
    return FPNBackbone(body, return_layers, widths, cfg.MODEL.FPN.OUT_CHANNELS, extra_blocks=LastLevelMaxPool(),
                       size_divisibility=cfg.INPUT.SIZE_DIVISIBILITY)
