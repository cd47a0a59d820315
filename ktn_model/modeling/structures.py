"""Typed DensePose outputs, the way detectron2's ``DensePoseChartPredictorOutput`` is typed.

``DensePoseOutput`` is what the network returns per RoI (raw maps); ``DensePoseChartResult`` is what the
post-processing makes of one detection (labels and U, V in its box frame).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from ktn_model.data.iuv import iuv_array


@dataclass
class DensePoseOutput:
    """Per-RoI chart maps, each (N, C, S, S): M (2, coarse fg/bg logits), I (25 surface logits), U, V (25 each).

    The fields are the output's schema: a predictor with more outputs subclasses this dataclass and adds its
    fields (``KTNOutput``), and indexing, ``to``, ``split``, the losses and the export iterate over ``fields``.
    Indexing with an int keeps the batch dimension (length 1), as detectron2 does.
    """

    M: Tensor
    I: Tensor  # noqa: E741 (the paper's name)
    U: Tensor
    V: Tensor

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __len__(self) -> int:
        return self.M.shape[0]

    def _map(self, fn) -> DensePoseOutput:
        return type(self)(**{name: fn(getattr(self, name)) for name in self.field_names()})

    def __getitem__(self, index: int | slice | Tensor) -> DensePoseOutput:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self._map(lambda t: t[index])

    def __iter__(self):
        """One length-1 output per RoI."""
        return (self[k] for k in range(len(self)))

    def to(self, target: torch.device | str | torch.dtype) -> DensePoseOutput:
        """Every map moved to a device or cast to a dtype."""
        return self._map(lambda t: t.to(target))

    def split(self, counts: list[int]) -> list[DensePoseOutput]:
        """One output per image, ``counts[i]`` RoIs each (as the detections were concatenated).

        ``Tensor.split``, so that a traced graph (ktn_model/export) keeps the counts dynamic.
        """
        parts = {name: getattr(self, name).split(counts) for name in self.field_names()}
        return [type(self)(**{name: p[k] for name, p in parts.items()}) for k in range(len(counts))]


@dataclass
class KTNOutput(DensePoseOutput):
    """The KTN predictor's maps: the chart maps plus S (15 coarse-part logits) and K (17 keypoint heat-maps)."""

    S: Tensor
    K: Tensor


@dataclass
class DensePoseChartResult:
    """One detection in its box frame: ``labels`` (H, W) uint8 in 0..24, ``uv`` (2, H, W) float32, 0 off the body."""

    labels: Tensor
    uv: Tensor

    def to(self, device: torch.device | str) -> DensePoseChartResult:
        return DensePoseChartResult(self.labels.to(device), self.uv.to(device))

    def iuv(self) -> np.ndarray:
        """(3, H, W) uint8 [I, U·255, V·255], the official result encoding."""
        return iuv_array(self.labels.cpu().numpy(), self.uv.cpu().numpy())
