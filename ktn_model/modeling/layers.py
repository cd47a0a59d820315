"""Small building blocks shared by MID, the DensePose head and the predictor."""

from __future__ import annotations

from torch import nn

from .winograd import Conv2d


def msra_fill(module: nn.Module) -> nn.Module:
    """Kaiming-normal (fan_out, ReLU gain) weight and zero bias, detectron2's ``c2_msra_fill``."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def conv_relu(c_in: int, c_out: int, kernel: int = 3) -> nn.Sequential:
    """``kernel``×``kernel`` conv (same padding, bias, MSRA fill) + ReLU: (B, c_in, H, W) -> (B, c_out, H, W)."""
    return nn.Sequential(msra_fill(Conv2d(c_in, c_out, kernel, padding=kernel // 2)), nn.ReLU(inplace=True))


def conv_gn_relu(c_in: int, c_out: int, kernel: int = 3, dilation: int = 1) -> nn.Sequential:
    """Conv without bias + GroupNorm(32) + ReLU, padding = dilation·(kernel // 2) keeps H×W."""
    conv = Conv2d(c_in, c_out, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=False)
    return nn.Sequential(conv, nn.GroupNorm(32, c_out), nn.ReLU(inplace=True))


def c2_xavier_fill(module: nn.Module) -> nn.Module:
    """Kaiming-uniform (a = 1) weight and zero bias, detectron2's ``c2_xavier_fill`` (its box-head fc layers)."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module
