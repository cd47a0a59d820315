"""DensePose R-CNN's cross-cascading refinement (docs/other_systems.md, "Cross-cascading refinement").

The first stage is the configured predictor. Its maps (I, U, V, the mask M and, where the predictor has them,
the parts S and the keypoint heat-maps K) are brought back to the RoI grid and embedded, concatenated with the
head's RoI features, and a second stage (stacked convs, then one deconvolution per output) refines every output
of the first: stage 2 = stage 1 + a residual at the heat-map size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from .layers import conv_relu, msra_fill
from .losses.cascade import CascadeLoss

REFINE_INIT_STD = 0.001  # the residual deconvs start small: the cascade starts close to its first stage


class CrossCascade(nn.Module):
    """Head features (N, c_in, R, R) -> the first predictor's ``output_type`` at S = 2·R·up_scale, refined.

    ``first``: the predictor (any ``output_type``); ``channels``: (channel count, size / R) of each of its fields.
    ``embed``: 1×1 conv + ReLU of the first stage's maps (average-pooled onto R × R, concatenated) to ``embed_dim``;
    ``tower``: ``num_convs`` × (3×3 conv + ReLU) on [features, embedding]; ``refine[field]``: a k4s2 deconv to the
    field's channels, up-sampled like the predictor's, added to the first stage's field. In training the forward
    returns (refined, first stage) for the deep supervision of both (``losses/cascade.py``).
    """

    def __init__(self, first: nn.Module, c_in: int, channels: dict[str, tuple[int, int]], num_convs: int = 2,
                 conv_dim: int = 512, embed_dim: int = 64, kernel: int = 4):
        super().__init__()
        self.first = first
        self.output_type = first.output_type
        self.default_loss = first.default_loss
        self.pooling = {name: factor for name, (_, factor) in channels.items()}  # constants: the graph exports
        self.embed = conv_relu(sum(c for c, _ in channels.values()), embed_dim, kernel=1)
        self.tower = nn.Sequential(*(conv_relu(c_in + embed_dim if k == 0 else conv_dim, conv_dim)
                                     for k in range(num_convs)))
        width = conv_dim if num_convs else c_in + embed_dim
        self.refine = nn.ModuleDict({name: nn.ConvTranspose2d(width, c, kernel, stride=2, padding=kernel // 2 - 1)
                                     for name, (c, _) in channels.items()})
        for deconv in self.refine.values():
            nn.init.normal_(deconv.weight, std=REFINE_INIT_STD)
            nn.init.zeros_(deconv.bias)
        msra_fill(self.embed[0])

    @classmethod
    def from_config(cls, cfg, c_in: int, first: nn.Module) -> CrossCascade:
        """``first``'s field widths come from one forward pass on a 1-RoI zero input (with a stand-in box
        predictor, for KTM's W_s), under a forked RNG so that building draws the same numbers as without it."""
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        r = head.POOLER_RESOLUTION
        with torch.random.fork_rng(), torch.no_grad():
            stand_in = FastRCNNPredictor(cfg.MODEL.ROI_BOX_HEAD.FC_DIM, cfg.MODEL.ROI_HEADS.NUM_CLASSES + 1)
            probe = first(torch.zeros(1, c_in, r, r), stand_in)
        channels = {name: (getattr(probe, name).shape[1], getattr(probe, name).shape[-1] // r)
                    for name in probe.field_names()}
        return cls(first, c_in, channels, head.CASCADE_NUM_CONVS, head.CASCADE_CONV_DIM or head.CONV_HEAD_DIM,
                   head.CASCADE_EMBED_DIM, head.DECONV_KERNEL)

    def prepare_export(self, box_predictor: nn.Module) -> None:
        if hasattr(self.first, "prepare_export"):
            self.first.prepare_export(box_predictor)

    def forward(self, x: Tensor, box_predictor: nn.Module | None = None):
        first = self.first(x, box_predictor)
        maps = torch.cat([F.avg_pool2d(getattr(first, name), k) for name, k in self.pooling.items()], dim=1)
        h = self.tower(torch.cat([x, self.embed(maps)], dim=1))  # (N, conv_dim, R, R)
        refined = {name: getattr(first, name) + self._residual(name, h, k) for name, k in self.pooling.items()}
        out = self.output_type(**refined)
        return (out, first) if self.training else out

    def _residual(self, name: str, h: Tensor, factor: int) -> Tensor:
        """(N, C_field, factor·R, factor·R): the field's own size (K may stay at 2R: the release's V3 predictor)."""
        low = self.refine[name](h)  # (N, C_field, 2R, 2R)
        if factor == 2:
            return low
        return F.interpolate(low, scale_factor=factor // 2, mode="bilinear", align_corners=False)


def with_cascade(cfg, c_in: int, predictor: nn.Module, loss: Callable) -> tuple[nn.Module, Callable]:
    """(predictor, loss) unchanged, or wrapped in the cross-cascade and its deep supervision when
    ``MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON``."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    if not head.CASCADE_ON:
        return predictor, loss
    return CrossCascade.from_config(cfg, c_in, predictor), CascadeLoss(loss, head.CASCADE_STAGE1_WEIGHT)
