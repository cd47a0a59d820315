"""``--min-score`` before the DensePose branch (docs/inference.md, "The score threshold before the DensePose branch").

The box branch keeps detections with ``score > MODEL.ROI_HEADS.SCORE_THRESH_TEST``, runs NMS per class and keeps the
best ``TEST.DETECTIONS_PER_IMAGE``; the DensePose branch then runs on every kept box. Raising that threshold to just
below ``min_score`` before NMS gives the same survivors as dropping ``score < min_score`` afterwards: NMS is greedy
in descending score, so a box is only ever suppressed by a higher-scoring box of its class, which is kept either way,
and the top-k of the filtered list is the filtered top-k. So the DensePose branch runs only on the detections the
user keeps, and their outputs are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def box_score_threshold(score_thresh_test: float, min_score: float) -> float:
    """The ``score > t`` threshold that keeps exactly ``score > score_thresh_test and score >= min_score`` (float32
    scores): ``t`` is the largest float32 below ``min_score`` when that is the stricter of the two."""
    below = float(np.nextafter(np.float32(min_score), np.float32(-np.inf)))
    return max(score_thresh_test, below)


@contextmanager
def score_filter_before_densepose(model: torch.nn.Module, min_score: float) -> Iterator[None]:
    """Within the block, ``model``'s box branch drops detections under ``min_score`` before the DensePose branch
    (a PyTorch model with ``roi_heads.score_thresh``; an exported graph is left as it is). Restored afterwards."""
    heads = getattr(model, "roi_heads", None)
    if heads is None or not hasattr(heads, "score_thresh"):
        yield
        return
    saved = heads.score_thresh
    heads.score_thresh = box_score_threshold(saved, min_score)
    try:
        yield
    finally:
        heads.score_thresh = saved
