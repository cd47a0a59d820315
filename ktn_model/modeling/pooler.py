"""RoI features of the DensePose branch: RoIAlign on MID's P^c, or multi-level from P2..P5 without MID (spec §1.3)."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.ops import MultiScaleRoIAlign, roi_align

LEVELS = ["0", "1", "2", "3"]  # P2..P5


class DensePosePooler(nn.Module):
    """features {'0': P2, ...}, boxes list of (n_i, 4) in input pixels -> RoI features (Σn_i, C, R, R)
    (aligned=False) and P^c (B, C, H/4, W/4), or None without MID."""

    def __init__(self, mid: nn.Module | None, resolution: int = 28, sampling_ratio: int = 2):
        super().__init__()
        self.mid = mid
        self.resolution, self.sampling_ratio = resolution, sampling_ratio
        self.multi_level = MultiScaleRoIAlign(LEVELS, resolution, sampling_ratio) if mid is None else None

    def forward(self, features: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
                ) -> tuple[Tensor, Tensor | None]:
        if self.mid is None:
            return self.multi_level(features, boxes, image_shapes), None
        p_c = self.mid([features[k] for k in LEVELS])
        return roi_align(p_c, boxes, self.resolution, spatial_scale=0.25, sampling_ratio=self.sampling_ratio), p_c
