"""detectron2's ``DensePoseChartWithConfidenceLoss`` (docs/confidence.md, "Losses"): the chart losses with the U/V
smooth L1 replaced by a Gaussian negative log-likelihood (``loss_densepose_UV``) when U/V confidence is on."""

from __future__ import annotations

from torch import Tensor

from ..confidence import UV_CONFIDENCE_MAPS, uv_confidence_type
from ..registry import DENSEPOSE_LOSSES
from ..structures import DensePoseOutput
from .chart import DensePoseChartLoss, DensePoseLossWeights, DenseTargets
from .gaussian_uv import iid_isotropic_nll, indep_anisotropic_nll
from .sampling import part_values, zero_loss


@DENSEPOSE_LOSSES.register("DensePoseChartWithConfidenceLoss")
class DensePoseChartWithConfidenceLoss(DensePoseChartLoss):
    """``uv_type`` "iid_iso" / "indep_aniso": U and V give one loss, the NLL of the residuals at the annotated points
    under sigma_2 (and kappa_u, kappa_v), weighted like the smooth L1 it replaces (POINT_REGRESSION_WEIGHTS; the WC
    presets lower it to 0.0005). "" (U/V confidence off): the chart losses; segmentation confidences need no term
    of their own (they scale the M and I logits)."""

    def __init__(self, weights: DensePoseLossWeights = DensePoseLossWeights(), uv_type: str = "",
                 epsilon: float = 0.01):
        super().__init__(weights)
        self.uv_type, self.epsilon = uv_type, epsilon

    @classmethod
    def from_config(cls, cfg) -> DensePoseChartWithConfidenceLoss:
        chart = DensePoseChartLoss.from_config(cfg)
        return cls(chart.w, uv_confidence_type(cfg), cfg.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.EPSILON)

    def uv_losses(self, t: DenseTargets, weight: float) -> dict[str, Tensor]:
        if not self.uv_type:
            return super().uv_losses(t, weight)
        s, fg = t.points, t.points.I > 0
        du, dv = part_values(t.out.U, s) - s.U[fg], part_values(t.out.V, s) - s.V[fg]  # (P_fg,)
        conf = [part_values(getattr(t.out, name), s) for name in UV_CONFIDENCE_MAPS[self.uv_type]]
        nll = iid_isotropic_nll if self.uv_type == "iid_iso" else indep_anisotropic_nll
        return {"loss_densepose_UV": weight * nll(du, dv, *conf, self.epsilon)}

    def zero_losses(self, out: DensePoseOutput) -> dict[str, Tensor]:
        if not self.uv_type:
            return super().zero_losses(out)
        zero = zero_loss(*(getattr(out, name) for name in out.field_names()))
        return {f"loss_densepose_{name}": zero for name in ("UV", "I", "M")}
