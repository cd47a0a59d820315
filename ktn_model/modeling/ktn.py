"""KTN, the whole network: transform -> backbone/FPN -> RPN -> box + DensePose RoI heads.

Stages and shapes: docs/architecture.md, "Data flow" and "Stages and shapes".
"""

from __future__ import annotations

from torch import Tensor
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN


class KTN(GeneralizedRCNN):
    """``model(images, targets)`` -> weighted losses (training); ``model(images)`` -> per-image results (eval).

    images: list of (3, H, W) float RGB in [0, 1]. Detections per image, in the pixels of the given image:
    ``boxes`` (D, 4), ``scores`` (D,), ``labels`` (D,), ``densepose`` (a ``DensePoseOutput`` of D rows, the raw
    maps) and, with a K output, ``keypoints`` (D, 17, 3) and ``keypoints_scores`` (D, 17). The post-processing
    (``build_postprocess``) turns them into results in original-image pixels.
    """

    @staticmethod
    def _check_targets(targets: list[dict] | None, n_images: int) -> None:
        if targets is None or len(targets) != n_images:
            raise ValueError("training needs one target dict per image")
        for t in targets:
            boxes = t["boxes"]
            if boxes.ndim != 2 or boxes.shape[-1] != 4 or not boxes.is_floating_point():
                raise ValueError(f"target boxes must be a float (N, 4) tensor, got {tuple(boxes.shape)} {boxes.dtype}")

    def forward(self, images: list[Tensor], targets: list[dict] | None = None):
        if self.training:
            self._check_targets(targets, len(images))
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, targets = self.transform(images, targets)
        features = self.backbone(image_list.tensors)
        proposals, proposal_losses = self.rpn(image_list, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        if self.training:
            return {**proposal_losses, **detector_losses}
        return self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
