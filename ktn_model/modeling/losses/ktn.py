"""KTN's loss: the chart losses plus S (coarse parts against the annotated masks) and K (keypoint heat-maps)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection.roi_heads import keypointrcnn_loss

from ..registry import DENSEPOSE_LOSSES
from ..structures import KTNOutput
from .chart import DensePoseChartLoss, DenseTargets
from .sampling import DensePoseRoIs


@DENSEPOSE_LOSSES.register("KTNLoss")
class KTNLoss(DensePoseChartLoss):
    """On a ``KTNOutput``: U, V, I, S, M on the RoIs with points and the keypoint loss on every RoI."""

    dense_maps = ("U", "V", "I", "S", "M")

    def roi_losses(self, out: KTNOutput, rois: list[DensePoseRoIs], targets: list[dict]) -> dict[str, Tensor]:
        loss_k = keypointrcnn_loss(out.K, [r.boxes for r in rois], [t["keypoints"] for t in targets],
                                   [r.gt for r in rois])
        return {"loss_keypoint": self.w.k * loss_k}

    def dense_losses(self, t: DenseTargets, num_images: int) -> dict[str, Tensor]:
        chart = super().dense_losses(t, num_images)
        loss_s = self.w.s * F.cross_entropy(t.out.S, t.masks)
        return {**{k: chart[k] for k in ("loss_densepose_U", "loss_densepose_V", "loss_densepose_I")},
                "loss_densepose_S": loss_s, "loss_densepose_M": chart["loss_densepose_M"]}
