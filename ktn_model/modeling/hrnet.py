"""HRNet, the multi-resolution body of the HRFPN backbone (docs/architecture.md, "HRNet and HRFPN").

A stride-4 stem, ``layer1`` (Bottlenecks, 256 channels), then stages 2-4: each stage adds one branch at half
the resolution of the last (``transition{k}``) and runs ``HighResolutionModule``s, whose branches are stacks of
residual blocks and whose ``fuse_layers`` exchange information between all branches. BatchNorm everywhere
(eps 1e-5; running statistics in eval mode). Parameter names are the release's, so a release checkpoint's
``backbone.bottom_up.*`` entries load without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias, padding kernel // 2) + BatchNorm [+ ReLU]: (B, c_in, H, W) -> (B, c_out, ⌈H/s⌉, ⌈W/s⌉)."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 conv + BN with an identity (or 1×1 conv + BN) shortcut: (B, c_in, H, W) -> (B, channels, H, W)."""

    expansion = 1

    def __init__(self, *, in_channels: int, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = conv_bn(in_channels, channels, 1, relu=False) if in_channels != channels else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1×1, 3×3, 1×1 (×4 channels) conv + BN with a shortcut: (B, c_in, H, W) -> (B, 4·channels, H, W)."""

    expansion = 4

    def __init__(self, *, in_channels: int, channels: int):
        super().__init__()
        out = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = conv_bn(in_channels, out, 1, relu=False) if in_channels != out else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


def residual_stack(block: type[nn.Module], in_channels: int, channels: int, count: int) -> nn.Sequential:
    """``count`` blocks; only the first may change the width (its shortcut is then a 1×1 conv + BN)."""
    width = channels * block.expansion
    return nn.Sequential(*[block(in_channels=in_channels if k == 0 else width, channels=channels)
                           for k in range(count)])


def fuse_layer(c_from: int, c_to: int, steps: int) -> nn.Module:
    """Branch j -> branch i, ``steps`` = i - j resolution halvings (negative: doublings).

    Up (steps < 0): 1×1 conv + BN, then nearest ×2^-steps. Down: ``steps`` 3×3 stride-2 conv + BN, with
    ReLU and width ``c_from`` on all but the last, which maps to ``c_to`` without ReLU. Same branch: identity.
    """
    if steps == 0:
        return nn.Identity()
    if steps < 0:
        return nn.Sequential(nn.Conv2d(c_from, c_to, 1, bias=False), nn.BatchNorm2d(c_to),
                             nn.Upsample(scale_factor=2 ** -steps, mode="nearest"))
    return nn.Sequential(*[conv_bn(c_from, c_to if k == steps - 1 else c_from, 3, 2, relu=k < steps - 1)
                           for k in range(steps)])


class HighResolutionModule(nn.Module):
    """Parallel branches, then every output branch i sums all branches brought to its resolution, and ReLU.

    Takes and returns a list of n tensors (B, C_i, H_i, W_i) with C_i = ``channels[i]`` × block expansion.
    An up-sampled branch is cropped to H_i × W_i (it can be one row or column larger for odd sizes).
    """

    def __init__(self, *, in_channels: list[int], block: type[nn.Module], num_blocks: list[int],
                 channels: list[int]):
        super().__init__()
        if not len(in_channels) == len(num_blocks) == len(channels):
            raise ValueError(f"HRNet module: {len(channels)} branches, but {len(num_blocks)} NUM_BLOCKS "
                             f"and {len(in_channels)} input widths")
        self.out_channels = [c * block.expansion for c in channels]
        self.branches = nn.ModuleList(residual_stack(block, c_in, c, n)
                                      for c_in, c, n in zip(in_channels, channels, num_blocks, strict=True))
        n, widths = len(channels), self.out_channels
        self.fuse_layers = None if n == 1 else nn.ModuleList(
            nn.ModuleList(fuse_layer(widths[j], widths[i], i - j) for j in range(n)) for i in range(n))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        if self.fuse_layers is None:
            return xs
        out = []
        for fuse in self.fuse_layers:  # output branch i: fuse[j] brings branch j to it
            y = fuse[0](xs[0])
            h, w = y.shape[-2:]
            for j in range(1, len(xs)):  # summed in branch order, as released
                y = y + fuse[j](xs[j])[..., :h, :w]
            out.append(self.relu(y))
        return out


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage (``MODEL.HRNET.STAGE{2,3,4}``): ``num_modules`` modules of ``len(num_channels)``
    branches, ``num_blocks[i]`` blocks of type ``block`` (BASIC | BOTTLENECK) on branch i."""

    num_modules: int
    block: str
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]


def transition(c_prev: list[int], c_next: list[int]) -> nn.ModuleList:
    """Widths of the previous stage's branches -> the next stage's inputs.

    An existing branch passes unchanged (identity) or, if its width changes, through 3×3 conv + BN + ReLU;
    each new branch is made from the lowest-resolution previous branch by 3×3 stride-2 conv + BN + ReLU steps
    (width ``c_prev[-1]`` until the last step).
    """
    layers: list[nn.Module] = []
    for i, c in enumerate(c_next):
        if i < len(c_prev):
            layers.append(nn.Identity() if c == c_prev[i] else conv_bn(c_prev[i], c, 3))
        else:
            steps = i + 1 - len(c_prev)
            layers.append(nn.Sequential(*[conv_bn(c_prev[-1], c if k == steps - 1 else c_prev[-1], 3, 2)
                                          for k in range(steps)]))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """``images (B, 3, H, W) -> [(B, C_i, H_i, W_i)]``, one tensor per branch of the last stage.

    Branch i has stride 2^(i+2): H_0 = ⌈⌈H/2⌉/2⌉ and H_{i+1} = ⌈H_i/2⌉ (same for W). C_i is the last stage's
    ``num_channels[i]`` × block expansion (W32: 32, 64, 128, 256). ``stem_width`` is the stem's width
    (``MODEL.HRNET.STEM_INPLANES``; the release hard-codes 64 and only runs with 64). ``stages`` are stages 2, 3, 4.
    """

    def __init__(self, *, stages: tuple[StageSpec, ...], stem_width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_width, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.conv2 = nn.Conv2d(stem_width, stem_width, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = residual_stack(Bottleneck, stem_width, 64, 4)
        widths = [64 * Bottleneck.expansion]
        self.num_stages = len(stages)
        for k, spec in enumerate(stages, start=1):
            if spec.block not in BLOCKS:
                raise ValueError(f"MODEL.HRNET.STAGE{k + 1}.BLOCK must be one of {sorted(BLOCKS)}, got {spec.block!r}")
            block = BLOCKS[spec.block]
            stage_in = [c * block.expansion for c in spec.num_channels]
            setattr(self, f"transition{k}", transition(widths, stage_in))
            modules = []
            for _ in range(spec.num_modules):
                modules.append(HighResolutionModule(in_channels=stage_in, block=block,
                                                    num_blocks=list(spec.num_blocks), channels=list(spec.num_channels)))
                stage_in = modules[-1].out_channels
            setattr(self, f"stage{k + 1}", nn.Sequential(*modules))
            widths = stage_in
        self.out_channels = widths

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in range(1, self.num_stages + 1):
            steps = getattr(self, f"transition{k}")
            xs = [step(ys[i] if i < len(ys) else ys[-1]) for i, step in enumerate(steps)]
            ys = getattr(self, f"stage{k + 1}")(xs)
        return ys
