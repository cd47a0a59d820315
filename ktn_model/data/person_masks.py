"""Annotated person masks moved between box frames: one person's S_gt into other boxes (``resample_masks``) and the
union of every annotated person's body mask seen from a box (``person_union``).

The union is the *semantic* person mask of a box: PID-net's intermediate target (its ``USE_BOX_ALL_MASKS``:
the masks of all annotated persons pasted into the image, then cropped to the proposal; docs/other_systems.md,
"PID-net") and the body mask of the image-level IS loss (docs/method.md, "Instance strengthening (IS)"). It is
built from the data pipeline's target fields ``boxes``, ``dp_valid`` and ``dp_masks``, once the boxes it is
seen from exist.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def resample_masks(masks: Tensor, gt_boxes: Tensor, boxes: Tensor, size: int | tuple[int, int] = 112) -> Tensor:
    """S_gt (N, 256, 256) in GT frames -> (N, h, w) int64 in the frames of ``boxes``.

    ``size`` is h = w or (h, w). Nearest sampling at the cells' top-left corners, zeros outside the GT box.
    """
    h, w = (size, size) if isinstance(size, int) else size
    gt_wh = gt_boxes[:, 2:] - gt_boxes[:, :2]
    a0 = 2 * (boxes[:, :2] - gt_boxes[:, :2]) / gt_wh - 1
    a1 = 2 * (boxes[:, 2:] - gt_boxes[:, :2]) / gt_wh - 1

    def axis(k: int, n: int) -> Tensor:  # (N, n) normalised source coordinates of one axis
        return a0[:, k, None] + torch.arange(n, device=boxes.device, dtype=boxes.dtype) / n * (a1 - a0)[:, k, None]

    grid = torch.stack(torch.broadcast_tensors(axis(0, w)[:, None, :], axis(1, h)[:, :, None]), dim=-1)
    out = F.grid_sample(masks[:, None].to(boxes.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=True)
    return out[:, 0].round().long()


def person_union(target: dict, boxes: Tensor, size: int | tuple[int, int]) -> Tensor:
    """(n, h, w) bool: inside each of ``boxes`` (n, 4), whether any DensePose-annotated person's body
    (S_gt > 0) covers the cell (``resample_masks``' sampling). Persons without DensePose have no mask and
    count as background. One person at a time, so memory stays n × h × w whatever the number of persons."""
    h, w = (size, size) if isinstance(size, int) else size
    union = torch.zeros((len(boxes), h, w), dtype=torch.bool, device=boxes.device)
    valid = torch.where(target["dp_valid"])[0].tolist()
    for g in valid:
        body = (target["dp_masks"][g] > 0).to(boxes.dtype)[None].expand(len(boxes), -1, -1)  # (n, 256, 256), a view
        gt = target["boxes"][g].expand(len(boxes), 4)
        union |= resample_masks(body, gt, boxes, (h, w)) > 0
    return union
