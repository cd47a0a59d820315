"""detectron2's ``DensePoseChartPredictor``: coarse segmentation M, surface index I and U, V; no KTM."""

from __future__ import annotations

from torch import Tensor, nn

from ..detectron2_layout import SAME_NAMES
from ..registry import PREDICTORS
from ..structures import DensePoseOutput
from .deconv import DeconvPredictor, chart_dims


@PREDICTORS.register("DensePoseChartPredictor")
class DensePoseChartPredictor(DeconvPredictor):
    """(N, c_in, R, R) -> ``DensePoseOutput`` at 2·R·up_scale. Parameter names are detectron2's (M is its
    ``ann_index_lowres``, I its ``index_uv_lowres``), so a detectron2 checkpoint maps by name. M has ``num_coarse``
    channels: 2 (fg / bg), or 15 (background + 14 coarse parts) in detectron2's ``_legacy`` models."""

    output_type = DensePoseOutput
    default_loss = "DensePoseChartLoss"

    def __init__(self, c_in: int, num_surfaces: int = 25, kernel: int = 4, up_scale: int = 2, num_coarse: int = 2):
        super().__init__(c_in, kernel, up_scale)
        self.ann_index_lowres = self.deconv(num_coarse)
        self.u_lowres = self.deconv(num_surfaces)
        self.v_lowres = self.deconv(num_surfaces)
        self.index_uv_lowres = self.deconv(num_surfaces)  # created last: the random init of earlier releases

    @classmethod
    def from_config(cls, cfg, c_in: int, graphs=None) -> DensePoseChartPredictor:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        if head.UV_CONFIDENCE.ENABLED or head.SEGM_CONFIDENCE.ENABLED:
            raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE / SEGM_CONFIDENCE need PREDICTOR_NAME "
                             f"DensePoseChartWithConfidencePredictor, not {head.PREDICTOR_NAME}")
        return cls(c_in, **chart_dims(cfg, (2, 15)), num_coarse=head.NUM_COARSE_SEGM_CHANNELS)

    def forward(self, x: Tensor, box_predictor: nn.Module | None = None) -> DensePoseOutput:
        maps = (self.ann_index_lowres, self.index_uv_lowres, self.u_lowres, self.v_lowres)
        return DensePoseOutput(*(self.up(layer(x)) for layer in maps))  # (N, C, 2R·up, 2R·up) each

    def detectron2_rules(self) -> list:
        return SAME_NAMES
