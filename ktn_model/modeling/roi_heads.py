"""RoI heads of KTN (spec §1.2, §9): torchvision's box branch plus the DensePose branch (MID, head, predictor
with KTM), whose 17-channel K output replaces the keypoint R-CNN head."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.detection.roi_heads import RoIHeads, keypointrcnn_inference

from .box_losses import fastrcnn_loss
from .instance import InstanceStrengthening
from .losses import DensePoseLossWeights, densepose_losses, select_densepose_rois
from .pooler import DensePosePooler
from .predictor import DensePoseOutput, DensePosePredictor


class KTNRoIHeads(RoIHeads):
    """``RoIHeads`` whose mask/keypoint branches are replaced by the DensePose branch.

    Training returns the box and DensePose losses; inference returns per image ``boxes``, ``scores``,
    ``labels``, ``keypoints`` (D, 17, 3), ``keypoints_scores`` (D, 17) in input pixels and ``densepose_raw``,
    the (M, I, U, V) maps of the detections, each (D, C, 112, 112). With ``instance_strengthening`` the
    training losses include ``loss_is``.
    """

    def __init__(self, box_roi_pool: nn.Module, box_head: nn.Module, box_predictor: nn.Module,
                 densepose_pooler: DensePosePooler, densepose_head: nn.Module, densepose_predictor: DensePosePredictor,
                 *, box_args: dict, densepose_iou: float = 0.65, max_densepose_rois: int = 0,
                 loss_weights: DensePoseLossWeights = DensePoseLossWeights(),
                 instance_strengthening: InstanceStrengthening | None = None, box_smooth_l1_beta: float = 0.0):
        super().__init__(box_roi_pool, box_head, box_predictor, **box_args)
        self.densepose_pooler = densepose_pooler
        self.densepose_head = densepose_head
        self.densepose_predictor = densepose_predictor
        self.densepose_iou, self.max_densepose_rois, self.loss_weights = densepose_iou, max_densepose_rois, loss_weights
        self.instance_strengthening = instance_strengthening
        self.box_smooth_l1_beta = box_smooth_l1_beta  # MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA (0 = L1)

    def densepose(self, features: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
                  ) -> tuple[DensePoseOutput, Tensor | None]:
        """The predictor's outputs for ``boxes`` and MID's P^c (None without MID)."""
        x, p_c = self.densepose_pooler(features, boxes, image_shapes)
        return self.densepose_predictor(self.densepose_head(x), self.box_predictor), p_c

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]],
                targets: list[dict] | None = None) -> tuple[list[dict], dict[str, Tensor]]:
        if self.training:
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets,
                                                        self.box_smooth_l1_beta)
            rois = [select_densepose_rois(p, m, lab, t["boxes"], t["dp_valid"], self.densepose_iou,
                                          self.max_densepose_rois)
                    for p, m, lab, t in zip(proposals, matched_idxs, labels, targets, strict=True)]
            out, p_c = self.densepose(features, [r.boxes for r in rois], image_shapes)
            losses = densepose_losses(out, rois, targets, self.loss_weights)
            if self.instance_strengthening is not None:
                losses["loss_is"] = self.instance_strengthening(p_c, targets)
            return [], {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg, **losses}
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        out, _ = self.densepose(features, boxes, image_shapes)
        keypoints, keypoint_scores = keypointrcnn_inference(out.K, boxes)
        counts = [len(b) for b in boxes]
        raw = list(zip(*(t.split(counts) for t in (out.M, out.I, out.U, out.V)), strict=True))
        return [
            {"boxes": b, "scores": s, "labels": lab, "keypoints": k, "keypoints_scores": ks, "densepose_raw": r}
            for b, s, lab, k, ks, r in zip(boxes, scores, labels, keypoints, keypoint_scores, raw, strict=True)
        ], {}
