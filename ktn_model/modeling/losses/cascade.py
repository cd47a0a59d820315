"""Deep supervision of the cross-cascade (docs/other_systems.md, "Cross-cascading refinement"): the configured
DensePose loss on the refined output and, weighted, on the first stage's."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..structures import DensePoseOutput
from .sampling import DensePoseRoIs


class CascadeLoss:
    """``loss(out, rois, targets)`` for a ``CrossCascade``: ``out`` is (refined, first stage) in training. The
    refined output's terms keep their names; the first stage's are ``<name>_stage1`` × ``stage1_weight``."""

    def __init__(self, loss: Callable, stage1_weight: float = 1.0):
        self.loss = loss
        self.stage1_weight = stage1_weight

    def __call__(self, out: tuple[DensePoseOutput, DensePoseOutput], rois: list[DensePoseRoIs],
                 targets: list[dict]) -> dict[str, Tensor]:
        refined, first = out
        losses = self.loss(refined, rois, targets)
        if self.stage1_weight:
            losses |= {f"{k}_stage1": self.stage1_weight * v for k, v in self.loss(first, rois, targets).items()}
        return losses
