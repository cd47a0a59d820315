"""Region proposals as detectron2 makes them (docs/architecture.md), on torchvision's RPN.

Two details differ from torchvision and are fixed here: the cell anchors are not rounded to integers,
and each level's stride is its own 2^k (torchvision derives it as padded size // grid size, which gives
P6 a stride of 61 instead of 64 for an 800-px side). Proposals are ranked and suppressed on the
objectness logits, and only empty boxes are dropped (detectron2's ``find_top_rpn_proposals``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import boxes as box_ops

from .box_losses import rpn_loss


class DefaultAnchorGenerator(AnchorGenerator):
    """Anchors per level (sizes[i] × aspect_ratios[i]) on a grid of the level's ``strides[i]``, offset 0.

    A cell anchor of size s and ratio r (h / w) is w = sqrt(s² / r), h = r·w, centred at the origin, in
    float32 from float64 arithmetic; anchors are ordered position-major (y, then x), then size, then ratio.
    """

    def __init__(self, sizes: tuple[tuple[float, ...], ...], aspect_ratios: tuple[tuple[float, ...], ...],
                 strides: tuple[int, ...]):
        super().__init__(sizes, aspect_ratios)
        self.strides = strides

    def generate_anchors(self, scales, aspect_ratios, dtype=torch.float32, device=torch.device("cpu")) -> Tensor:
        cells = []
        for size in scales:
            for ratio in aspect_ratios:
                w = math.sqrt(size * size / ratio)
                h = ratio * w
                cells.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        return torch.tensor(cells, dtype=dtype, device=device)  # (A, 4)

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        grid_sizes = [tuple(f.shape[-2:]) for f in feature_maps]
        device = feature_maps[0].device
        self.set_cell_anchors(feature_maps[0].dtype, device)
        strides = [[torch.tensor(s, dtype=torch.int64, device=device)] * 2 for s in self.strides]
        anchors = torch.cat(self.grid_anchors(grid_sizes, strides))  # (Σ H_l·W_l·A, 4)
        return [anchors for _ in image_list.image_sizes]


class DefaultRPN(RegionProposalNetwork):
    """torchvision's RPN with detectron2's proposal selection: per level the top-k logits, decode, clip,
    drop empty boxes, NMS per level on the logits, keep the best ``post_nms_top_n`` overall; its box loss is
    smooth-L1 with ``smooth_l1_beta`` (``MODEL.RPN.SMOOTH_L1_BETA``, 0 = L1 as released)."""

    def __init__(self, *args, smooth_l1_beta: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.smooth_l1_beta = smooth_l1_beta

    def compute_loss(self, objectness: Tensor, pred_bbox_deltas: Tensor, labels: list[Tensor],
                     regression_targets: list[Tensor]) -> tuple[Tensor, Tensor]:
        return rpn_loss(objectness, pred_bbox_deltas, labels, regression_targets, self.fg_bg_sampler,
                        self.smooth_l1_beta)

    def filter_proposals(self, proposals: Tensor, objectness: Tensor, image_shapes: list[tuple[int, int]],
                         num_anchors_per_level: list[int]) -> tuple[list[Tensor], list[Tensor]]:
        num_images = proposals.shape[0]
        objectness = objectness.detach().reshape(num_images, -1)  # (B, Σ anchors) logits
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=proposals.device)
                            for i, n in enumerate(num_anchors_per_level)]).expand_as(objectness)
        top = self._get_top_n_idx(objectness, num_anchors_per_level)  # (B, K), level-major, each sorted
        batch = torch.arange(num_images, device=proposals.device)[:, None]
        final_boxes, final_logits = [], []
        for boxes, logits, lvl, shape in zip(proposals[batch, top], objectness[batch, top], levels[batch, top],
                                             image_shapes, strict=True):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            boxes, logits, lvl = boxes[keep], logits[keep], lvl[keep]
            keep = box_ops.batched_nms(boxes, logits, lvl, self.nms_thresh)[: self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_logits.append(logits[keep])
        return final_boxes, final_logits


def build_rpn(cfg, channels: int) -> DefaultRPN:
    """The RPN of ``MODEL.RPN`` / ``MODEL.ANCHOR_GENERATOR`` on FPN levels of strides 4..64."""
    r, a = cfg.MODEL.RPN, cfg.MODEL.ANCHOR_GENERATOR
    sizes = tuple(tuple(float(s) for s in level) for level in a.SIZES)
    ratios = tuple(tuple(a.ASPECT_RATIOS[0 if len(a.ASPECT_RATIOS) == 1 else k]) for k in range(len(sizes)))
    anchors = DefaultAnchorGenerator(sizes, ratios, tuple(2 ** (k + 2) for k in range(len(sizes))))
    bg_iou, fg_iou = r.IOU_THRESHOLDS
    return DefaultRPN(
        anchors, RPNHead(channels, anchors.num_anchors_per_location()[0]), fg_iou, bg_iou, r.BATCH_SIZE_PER_IMAGE,
        r.POSITIVE_FRACTION, dict(training=r.PRE_NMS_TOPK_TRAIN, testing=r.PRE_NMS_TOPK_TEST),
        dict(training=r.POST_NMS_TOPK_TRAIN, testing=r.POST_NMS_TOPK_TEST), r.NMS_THRESH,
        smooth_l1_beta=r.SMOOTH_L1_BETA)
