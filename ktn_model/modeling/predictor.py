"""DensePose predictor (docs/method.md, "Predictor"): k4s2p1 deconvs + bilinear up-scaling to the 112×112 outputs."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .ktm import KTM, deconv_rows, location_rows, rows_to_deconv
from .layers import msra_fill
from .structures import DensePoseOutput


class DensePosePredictor(nn.Module):
    """(N, c_in, 28, 28) -> ``DensePoseOutput`` at 28·2·up_scale.

    With a ``ktm`` the I deconv weight is W_s (no bias), generated from the K deconv (W_kpt), the S deconv
    (W_part) and the box classifier (W_loc); it is cached in eval mode. Without one, I is an ordinary deconv.
    ``num_keypoints = num_parts = 0`` is detectron2's chart predictor: M, I, U and V only.
    """

    def __init__(self, c_in: int, num_keypoints: int = 17, num_parts: int = 15, num_surfaces: int = 25,
                 kernel: int = 4, up_scale: int = 2, ktm: KTM | None = None):
        super().__init__()

        def deconv(c_out: int) -> nn.ConvTranspose2d:
            return msra_fill(nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=kernel // 2 - 1))

        if ktm is not None and not (num_keypoints and num_parts):
            raise ValueError("KTM generates W_s from the K and S classifiers: the predictor needs both")
        self.m_lowres = deconv(2)
        self.ann_index_lowres = deconv(num_parts) if num_parts else None
        self.u_lowres = deconv(num_surfaces)
        self.v_lowres = deconv(num_surfaces)
        self.k_lowres = deconv(num_keypoints) if num_keypoints else None
        self.i_lowres = deconv(num_surfaces) if ktm is None else None
        self.ktm = ktm
        self.up_scale = up_scale
        self._cache: tuple[tuple, Tensor] | None = None

    def surface_weight(self, box_predictor: nn.Module) -> Tensor:
        """W_s as a ConvTranspose2d weight (c_in, 25, k, k).

        In eval mode it is a detached constant, recomputed only when a source parameter changed.
        """
        sources = [*self.ktm.parameters(), self.k_lowres.weight, self.ann_index_lowres.weight,
                   *box_predictor.parameters()]
        key = tuple((t.data_ptr(), t._version) for t in sources)
        if not self.training and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        rows = {"kpt": deconv_rows(self.k_lowres.weight), "part": deconv_rows(self.ann_index_lowres.weight),
                "loc": location_rows(box_predictor)}
        weight = rows_to_deconv(self.ktm(rows), self.k_lowres.in_channels)
        if self.training:
            self._cache = None
            return weight
        self._cache = (key, weight.detach())
        return self._cache[1]

    def _up(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=self.up_scale, mode="bilinear", align_corners=False)

    def forward(self, x: Tensor, box_predictor: nn.Module) -> DensePoseOutput:
        if self.ktm is None:
            i_low = self.i_lowres(x)
        else:
            d = self.k_lowres
            i_low = F.conv_transpose2d(x, self.surface_weight(box_predictor), stride=d.stride, padding=d.padding)
        lows = [self.m_lowres(x), i_low, self.u_lowres(x), self.v_lowres(x),
                *(None if layer is None else layer(x) for layer in (self.ann_index_lowres, self.k_lowres))]
        return DensePoseOutput(*(None if t is None else self._up(t) for t in lows))

