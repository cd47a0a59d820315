"""Box-regression losses of the RPN and the box head with detectron2's smooth-L1 ``beta`` (docs/training.md).

torchvision's ``RegionProposalNetwork.compute_loss`` and ``roi_heads.fastrcnn_loss`` hard-code smooth-L1
with beta = 1/9; the release (detectron2, ``SMOOTH_L1_BETA: 0.0``) uses L1. These are the same losses with
``beta`` as an argument (beta 0 = L1); the normalisations are torchvision's, which are detectron2's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler


def fastrcnn_loss(class_logits: Tensor, box_regression: Tensor, labels: list[Tensor],
                  regression_targets: list[Tensor], beta: float = 0.0) -> tuple[Tensor, Tensor]:
    """Cross-entropy over the sampled RoIs and the summed smooth-L1 of the foreground RoIs' deltas of
    their class, over the number of sampled RoIs. class_logits (R, C+1), box_regression (R, 4(C+1));
    per image labels (R_i,) and regression_targets (R_i, 4)."""
    labels = torch.cat(labels)
    targets = torch.cat(regression_targets)
    pos = torch.where(labels > 0)[0]
    deltas = box_regression.reshape(len(labels), -1, 4)[pos, labels[pos]]  # (P, 4): the GT class's deltas
    box_loss = F.smooth_l1_loss(deltas, targets[pos], beta=beta, reduction="sum") / labels.numel()
    return F.cross_entropy(class_logits, labels), box_loss


def rpn_loss(objectness: Tensor, pred_bbox_deltas: Tensor, labels: list[Tensor], regression_targets: list[Tensor],
             sampler: BalancedPositiveNegativeSampler, beta: float = 0.0) -> tuple[Tensor, Tensor]:
    """Objectness BCE and summed smooth-L1 of the positive anchors' deltas, both over the sampled anchors.

    objectness (A, 1) and pred_bbox_deltas (A, 4) over all anchors of the batch; per image labels (A_i,)
    (1 fg, 0 bg, -1 ignored) and regression_targets (A_i, 4); ``sampler`` draws the anchors.
    """
    pos_masks, neg_masks = sampler(labels)
    pos = torch.where(torch.cat(pos_masks))[0]
    sampled = torch.cat([pos, torch.where(torch.cat(neg_masks))[0]])
    box_loss = F.smooth_l1_loss(pred_bbox_deltas[pos], torch.cat(regression_targets)[pos], beta=beta,
                                reduction="sum") / sampled.numel()
    objectness_loss = F.binary_cross_entropy_with_logits(objectness.flatten()[sampled], torch.cat(labels)[sampled])
    return objectness_loss, box_loss
