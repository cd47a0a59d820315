"""detectron2's ``DensePoseV1ConvXHead``: stacked 3×3 convs with bias and ReLU."""

from __future__ import annotations

from torch import Tensor

from ..registry import DENSEPOSE_HEADS
from .stacked import StackedConvs


@DENSEPOSE_HEADS.register("DensePoseV1ConvXHead")
class DensePoseV1ConvXHead(StackedConvs):
    """``num_convs`` × (3×3 conv with bias, ReLU): (N, c_in, R, R) -> (N, channels, R, R)."""

    def __init__(self, c_in: int, channels: int = 512, num_convs: int = 8, kernel: int = 3):
        super().__init__()
        self.add_body_convs(c_in, channels, num_convs, kernel)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    @classmethod
    def from_config(cls, cfg, c_in: int) -> DensePoseV1ConvXHead:
        return cls(c_in, **cls.head_dims(cfg))
