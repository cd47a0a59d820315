"""RoI heads of KTN (docs/architecture.md): torchvision's box branch with detectron2's inference, plus the
DensePose branch (decoder, head, predictor with KTM), whose K output replaces a keypoint R-CNN head."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import RoIHeads, keypointrcnn_inference
from torchvision.ops import boxes as box_ops

from .box_losses import fastrcnn_loss
from .instance import InstanceStrengthening
from .losses.sampling import select_densepose_rois
from .pooler import DensePosePooler
from .structures import DensePoseOutput


class KTNRoIHeads(RoIHeads):
    """``RoIHeads`` whose mask/keypoint branches are replaced by the DensePose branch.

    Training returns the box and DensePose losses; inference returns per image ``boxes``, ``scores``,
    ``labels`` in input pixels, ``densepose`` (the predictor's ``output_type``, one row per detection) and, when
    the predictor has a K output, ``keypoints`` (D, 17, 3) and ``keypoints_scores`` (D, 17). With
    ``instance_strengthening`` the training losses include ``loss_is``. At inference the DensePose branch runs
    under autocast to ``densepose_dtype`` when that is not float32 (the box branch never does).
    """

    def __init__(self, box_roi_pool: nn.Module, box_head: nn.Module, box_predictor: nn.Module,
                 densepose_pooler: DensePosePooler, densepose_head: nn.Module, densepose_predictor: nn.Module,
                 densepose_loss: Callable, *, box_args: dict, densepose_iou: float = 0.65, max_densepose_rois: int = 0,
                 instance_strengthening: InstanceStrengthening | None = None, box_smooth_l1_beta: float = 0.0,
                 densepose_dtype: torch.dtype = torch.float32):
        super().__init__(box_roi_pool, box_head, box_predictor, **box_args)
        self.densepose_pooler = densepose_pooler
        self.densepose_head = densepose_head
        self.densepose_predictor = densepose_predictor
        self.densepose_loss = densepose_loss  # (outputs, rois, targets) -> weighted losses (modeling/losses/)
        self.densepose_iou, self.max_densepose_rois = densepose_iou, max_densepose_rois
        self.instance_strengthening = instance_strengthening
        self.box_smooth_l1_beta = box_smooth_l1_beta  # MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA (0 = L1)
        self.densepose_dtype = densepose_dtype  # TEST.DENSEPOSE_PRECISION: autocast of the branch at inference

    def densepose(self, features: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]],
                  memory_format: torch.memory_format = torch.contiguous_format
                  ) -> tuple[DensePoseOutput, Tensor | None]:
        """The predictor's outputs for ``boxes`` (concatenated) and the decoder map (None without one), with the
        decoder's and the head's inputs in ``memory_format``."""
        features = {k: f.contiguous(memory_format=memory_format) for k, f in features.items()}
        x, p_c = self.densepose_pooler(features, boxes, image_shapes)  # x (D, C, 28, 28)
        x = self.densepose_head(x.contiguous(memory_format=memory_format))
        return self.densepose_predictor(x, self.box_predictor), p_c

    def postprocess_detections(self, class_logits: Tensor, box_regression: Tensor, proposals: list[Tensor],
                               image_shapes: list[tuple[int, int]]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """detectron2's ``fast_rcnn_inference``: softmax, decode, clip, score > thresh, NMS per class, top-k.

        Unlike torchvision, boxes are not dropped for being small: empty ones go after the rescale. Counts are
        read with ``shape[0]``, not ``len()``, so that a traced graph (ktn_model/export) keeps them dynamic.
        """
        counts = [p.shape[0] for p in proposals]
        boxes_all = self.box_coder.decode(box_regression, proposals).split(counts)
        scores_all = F.softmax(class_logits, -1).split(counts)
        out = ([], [], [])
        for boxes, scores, shape in zip(boxes_all, scores_all, image_shapes, strict=True):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)[:, 1:].reshape(-1, 4)  # (N·C, 4) without background
            labels = torch.arange(1, scores.shape[1], device=scores.device).repeat(scores.shape[0])  # (N·C,)
            scores = scores[:, 1:].reshape(-1)
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            for acc, t in zip(out, (boxes, scores, labels), strict=True):
                acc.append(t[keep])
        return out

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]],
                targets: list[dict] | None = None) -> tuple[list[dict], dict[str, Tensor]]:
        if self.training:
            return [], self.losses(features, proposals, image_shapes, targets)
        return [decode_keypoints(det) for det in self.detect(features, proposals, image_shapes)], {}

    def losses(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]],
               targets: list[dict]) -> dict[str, Tensor]:
        """The box and DensePose losses (and ``loss_is``) on the sampled proposals."""
        proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        class_logits, box_regression = self.classify(features, proposals, image_shapes)
        loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets,
                                                      self.box_smooth_l1_beta)
        rois = [select_densepose_rois(p, m, lab, t["boxes"], t["dp_valid"], self.densepose_iou,
                                      self.max_densepose_rois)
                for p, m, lab, t in zip(proposals, matched_idxs, labels, targets, strict=True)]
        out, p_c = self.densepose(features, [r.boxes for r in rois], image_shapes)
        losses = self.densepose_loss(out, rois, targets)
        if self.instance_strengthening is not None:
            losses["loss_is"] = self.instance_strengthening(p_c, targets)
        return {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg, **losses}

    def classify(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]]
                 ) -> tuple[Tensor, Tensor]:
        """Box head and predictor on the concatenated proposals: class logits (N, C+1), deltas (N, 4·(C+1))."""
        return self.box_predictor(self.box_head(self.box_roi_pool(features, proposals, image_shapes)))

    def detect(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]]
               ) -> list[dict]:
        """Per image ``boxes``, ``scores``, ``labels`` and ``densepose``: inference up to the keypoint decoding
        (the part that ktn_model/export traces)."""
        class_logits, box_regression = self.classify(features, proposals, image_shapes)
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        reduced = self.densepose_dtype != torch.float32
        # oneDNN's reduced-precision convs run faster on channels-last activations (KTN, 2 threads: 3.37 -> 3.02 s)
        layout = torch.channels_last if reduced else torch.contiguous_format
        with torch.autocast(class_logits.device.type, dtype=self.densepose_dtype, enabled=reduced):
            out, _ = self.densepose(features, boxes, image_shapes, layout)
        out = out.to(torch.float32)  # (a no-op in float32) so that the post-processing always sees float32
        per_image = out.split([b.shape[0] for b in boxes])
        return [{"boxes": b, "scores": s, "labels": lab, "densepose": dp}
                for b, s, lab, dp in zip(boxes, scores, labels, per_image, strict=True)]


def decode_keypoints(detection: dict) -> dict:
    """``detection`` with ``keypoints`` (D, 17, 3) and ``keypoints_scores`` (D, 17) decoded from its K heatmaps as
    torchvision's keypoint R-CNN does (bicubic, per detection, to the box size); unchanged without a K output."""
    heatmaps = getattr(detection["densepose"], "K", None)  # (D, 17, S, S) for outputs with keypoint heat-maps
    if heatmaps is None:
        return detection
    (keypoints,), (keypoint_scores,) = keypointrcnn_inference(heatmaps, [detection["boxes"]])
    return {**detection, "keypoints": keypoints, "keypoints_scores": keypoint_scores}
