"""detectron2's ``DensePoseChartWithConfidencePredictor`` (docs/confidence.md): the chart maps plus U/V and
segmentation confidences (Neverova et al., NeurIPS 2019), the WC1 / WC2 / WC1M / WC2M model-zoo presets."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..confidence import SEGM_CONFIDENCE_MAPS, confidence_names, uv_confidence_type
from ..registry import PREDICTORS
from ..structures import DensePoseConfidenceOutput, DensePoseOutput, confidence_output_type
from .chart import DensePoseChartPredictor
from .deconv import chart_dims


@PREDICTORS.register("DensePoseChartWithConfidencePredictor")
class DensePoseChartWithConfidencePredictor(DensePoseChartPredictor):
    """(N, c_in, R, R) -> M, I, U, V and the enabled confidences, each at 2·R·up_scale.

    U/V confidences (``uv_type`` "iid_iso": sigma_2; "indep_aniso": sigma_2, kappa_u, kappa_v; (N, 25, S, S) each)
    are returned raw, as detectron2 returns them: the losses and the post-processing read sigma^2 as
    softplus(sigma_2) + epsilon. With ``segm_confidence`` the fine and coarse confidences (N, 1, S, S) are
    softplus(up(deconv)) + ``segm_epsilon`` and multiply I and M (detectron2's ``..._confidence_lowres``; the "M"
    presets). Parameter names are detectron2's. With nothing enabled it is the chart predictor.
    """

    output_type = DensePoseConfidenceOutput  # the family; an instance's own type is ``self.output_type``
    default_loss = "DensePoseChartWithConfidenceLoss"

    def __init__(self, c_in: int, num_surfaces: int = 25, kernel: int = 4, up_scale: int = 2, num_coarse: int = 2,
                 uv_type: str = "", segm_confidence: bool = False, segm_epsilon: float = 0.01):
        super().__init__(c_in, num_surfaces, kernel, up_scale, num_coarse)
        self.confidences = confidence_names(uv_type, segm_confidence)
        self.segm_epsilon = segm_epsilon
        for name in self.confidences:
            self.add_module(f"{name}_lowres", self.deconv(1 if name in SEGM_CONFIDENCE_MAPS else num_surfaces))
        self.output_type = confidence_output_type(self.confidences)

    @classmethod
    def from_config(cls, cfg, c_in: int, graphs=None) -> DensePoseChartWithConfidencePredictor:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(c_in, **chart_dims(cfg, (2, 15)), num_coarse=head.NUM_COARSE_SEGM_CHANNELS,
                   uv_type=uv_confidence_type(cfg), segm_confidence=head.SEGM_CONFIDENCE.ENABLED,
                   segm_epsilon=head.SEGM_CONFIDENCE.EPSILON)

    @classmethod
    def output_type_for(cls, cfg) -> type:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return confidence_output_type(confidence_names(uv_confidence_type(cfg), head.SEGM_CONFIDENCE.ENABLED))

    def forward(self, x: Tensor, box_predictor: nn.Module | None = None) -> DensePoseOutput:
        chart = super().forward(x)
        maps = {name: self.up(getattr(self, f"{name}_lowres")(x)) for name in self.confidences}  # (N, C, S, S)
        m, i = chart.M, chart.I
        if "coarse_segm_confidence" in maps:
            for name in SEGM_CONFIDENCE_MAPS:
                maps[name] = F.softplus(maps[name]) + self.segm_epsilon
            m = m * maps["coarse_segm_confidence"]  # (N, 1, S, S) broadcast over the channels
            i = i * maps["fine_segm_confidence"]
        return self.output_type(M=m, I=i, U=chart.U, V=chart.V, **maps)
