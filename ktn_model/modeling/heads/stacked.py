"""The stacked-conv body that detectron2's DensePose heads share, under detectron2's module names."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..detectron2_layout import SAME_NAMES
from ..layers import msra_fill
from ..winograd import Conv2d

NORMS = ("GN", "")


class Conv2dNorm(Conv2d):
    """``Conv2d`` (``nn.Conv2d``; Winograd at inference where marked) followed by an optional ``norm`` child, named
    as detectron2's ``layers.Conv2d`` names it.

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

    @classmethod
    def head_dims(cls, cfg) -> dict:
        """``c_in``-independent keyword arguments of every head, from ``MODEL.ROI_DENSEPOSE_HEAD``."""
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return dict(channels=head.CONV_HEAD_DIM, num_convs=head.NUM_STACKED_CONVS, kernel=head.CONV_HEAD_KERNEL)

    def detectron2_rules(self) -> list:
        """detectron2's names are ours: the module mirrors its layout."""
        return SAME_NAMES
