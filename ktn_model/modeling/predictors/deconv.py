"""What every chart predictor shares (docs/method.md, "Predictor"): k4s2p1 deconvs to 56×56, bilinear ×UP_SCALE."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import msra_fill


class DeconvPredictor(nn.Module):
    """Base of the predictors: ``deconv(c_out)`` makes a (N, c_in, R, R) -> (N, c_out, 2R, 2R) MSRA-filled deconv,
    ``up`` the bilinear ×``up_scale`` (align_corners=False) to the 2·R·up_scale outputs.

    A subclass declares ``output_type`` (a ``DensePoseOutput`` dataclass) and ``default_loss`` (a registered
    loss name), builds itself with ``from_config(cfg, c_in, graphs)`` and maps (N, c_in, R, R) and the box
    predictor to an ``output_type``. ``detectron2_rules`` (optional) maps its state-dict names to the original
    code's (``detectron2_layout``).
    """

    def __init__(self, c_in: int, kernel: int = 4, up_scale: int = 2):
        super().__init__()
        self.c_in, self.kernel, self.up_scale = c_in, kernel, up_scale

    def deconv(self, c_out: int) -> nn.ConvTranspose2d:
        return msra_fill(nn.ConvTranspose2d(self.c_in, c_out, self.kernel, stride=2, padding=self.kernel // 2 - 1))

    def up(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=self.up_scale, mode="bilinear", align_corners=False)

    @classmethod
    def output_type_for(cls, cfg) -> type:
        """The output type the predictor of ``cfg`` returns, without building it (an exported graph's outputs)."""
        return cls.output_type


def chart_dims(cfg, coarse_channels: tuple[int, ...] = (2,)) -> dict:
    """The keyword arguments every chart predictor reads from ``MODEL.ROI_DENSEPOSE_HEAD``; ``coarse_channels``
    lists the NUM_COARSE_SEGM_CHANNELS the predictor supports."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    if head.NUM_COARSE_SEGM_CHANNELS not in coarse_channels:
        raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.NUM_COARSE_SEGM_CHANNELS {head.NUM_COARSE_SEGM_CHANNELS}: "
                         f"{head.PREDICTOR_NAME} supports {' or '.join(map(str, coarse_channels))} (2 = fg / bg, "
                         "15 = the legacy models' coarse parts)")
    return dict(num_surfaces=head.NUM_PATCHES + 1, kernel=head.DECONV_KERNEL, up_scale=head.UP_SCALE)
