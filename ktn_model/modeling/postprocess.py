"""Inference post-processing (spec §6.3): per detection, a (3, H, W) uint8 [I, U·255, V·255] array at box size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ktn_model.evaluation.results import iuv_size


def box_size(box: Tensor) -> tuple[int, int]:
    """(H, W) = (max(int(h), 1), max(int(w), 1)) of an XYXY box, with w, h subtracted in the box's own dtype
    as the XYWH results are (``to_coco_results``, eval spec §4.1), so the two always agree; int() truncates."""
    w, h = (box[2:] - box[:2]).tolist()
    return iuv_size(w, h)


def iuv_array(m: Tensor, i: Tensor, u: Tensor, v: Tensor, size: tuple[int, int], fg_threshold: float = 0.3) -> Tensor:
    """One detection: M (2, S, S), I/U/V (25, S, S) logits/regressions -> (3, H, W) uint8 at ``size`` = (H, W).

    Everything is resized bilinearly (align_corners=False); fg = softmax(M)[1] > threshold (argmax at 0.5);
    label = argmax(I) · fg; U, V are read at the label's channel, ·255, clamped and truncated; 0 on background.
    """
    m, i, u, v = (F.interpolate(t[None], size=size, mode="bilinear", align_corners=False)[0] for t in (m, i, u, v))
    fg = m.argmax(0) == 1 if fg_threshold == 0.5 else m.softmax(0)[1] > fg_threshold
    label = i.argmax(0) * fg
    on_part = label > 0

    def channel(t: Tensor) -> Tensor:
        return (t.gather(0, label[None])[0] * 255).clamp(0, 255) * on_part

    return torch.stack([label.float(), channel(u), channel(v)]).to(torch.uint8)


def densepose_results(m: Tensor, i: Tensor, u: Tensor, v: Tensor, boxes: Tensor, fg_threshold: float = 0.3
                      ) -> list[Tensor]:
    """Detections' M (D, 2, S, S), I, U, V (D, 25, S, S) and boxes (D, 4) in original-image pixels -> D arrays."""
    return [iuv_array(m[d], i[d], u[d], v[d], box_size(boxes[d]), fg_threshold) for d in range(len(boxes))]
