"""PID-net's outputs (docs/other_systems.md, "PID-net"): 3×3 convs on the PID head's fused features at the heat-map
size, plus the head's intermediate semantic mask."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ktn_model.data.meta import NUM_COARSE_PARTS

from ..heads.pid import PIDFeatures
from ..layers import msra_fill
from ..registry import PREDICTORS
from ..structures import DensePoseOutput
from .deconv import chart_dims


@dataclass
class PIDOutput(DensePoseOutput):
    """The chart maps (M is PID-net's instance person mask) plus S (15 coarse-part logits, its ``AnnIndex``) and
    P (2 logits: the semantic person mask of the box, every person in it; the intermediate supervision)."""

    S: Tensor
    P: Tensor


@PREDICTORS.register("DensePosePIDPredictor")
class DensePosePIDPredictor(nn.Module):
    """``PIDFeatures`` (features (N, c_in, S, S)) -> ``PIDOutput`` at S × S: one 3×3 conv (bias, MSRA fill) per
    map; P is the head's semantic logits."""

    output_type = PIDOutput
    default_loss = "PIDLoss"

    def __init__(self, c_in: int, num_surfaces: int = 25, num_parts: int = NUM_COARSE_PARTS + 1):
        super().__init__()
        maps = {"person_mask": 2, "index_uv": num_surfaces, "u": num_surfaces, "v": num_surfaces,
                "ann_index": num_parts}
        for name, c_out in maps.items():
            self.add_module(name, msra_fill(nn.Conv2d(c_in, c_out, 3, padding=1)))

    @classmethod
    def from_config(cls, cfg, c_in: int, graphs=None) -> DensePosePIDPredictor:
        return cls(c_in, chart_dims(cfg)["num_surfaces"])

    @classmethod
    def output_type_for(cls, cfg) -> type:
        """``PIDOutput`` whatever the config (an exported graph's outputs)."""
        return cls.output_type

    def forward(self, x: PIDFeatures, box_predictor: nn.Module | None = None) -> PIDOutput:
        f = x.features
        return PIDOutput(self.person_mask(f), self.index_uv(f), self.u(f), self.v(f), self.ann_index(f), x.semantic)
