"""Typed DensePose outputs, the way detectron2's ``DensePoseChartPredictorOutput`` is typed.

``DensePoseOutput`` is what a chart predictor returns per RoI (raw maps), ``DensePoseEmbeddingOutput`` what the
CSE predictor returns; ``DensePoseChartResult`` / ``DensePoseEmbeddingResult`` is what the post-processing makes of
one detection (in its box frame).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, make_dataclass
from functools import cache

import numpy as np
import torch
from torch import Tensor

from ktn_model.data.iuv import iuv_array

# detectron2's confidence outputs (docs/confidence.md), in its order; each (N, 25, S, S) or (N, 1, S, S)
CONFIDENCE_FIELDS = ("sigma_2", "kappa_u", "kappa_v", "fine_segm_confidence", "coarse_segm_confidence")


@dataclass
class PredictorOutput:
    """Per-RoI maps, each (N, C, S, S); the fields are the output's schema.

    Indexing, ``to``, ``split``, the losses and the export iterate over ``fields``. Indexing with an int keeps
    the batch dimension (length 1), as detectron2 does.
    """

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __len__(self) -> int:
        return getattr(self, self.field_names()[0]).shape[0]

    def _map(self, fn) -> PredictorOutput:
        return type(self)(**{name: fn(getattr(self, name)) for name in self.field_names()})

    def __getitem__(self, index: int | slice | Tensor) -> PredictorOutput:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self._map(lambda t: t[index])

    def __iter__(self):
        """One length-1 output per RoI."""
        return (self[k] for k in range(len(self)))

    def to(self, target: torch.device | str | torch.dtype) -> PredictorOutput:
        """Every map moved to a device or cast to a dtype."""
        return self._map(lambda t: t.to(target))

    def split(self, counts: list[int]) -> list[PredictorOutput]:
        """One output per image, ``counts[i]`` RoIs each (as the detections were concatenated).

        ``Tensor.split``, so that a traced graph (ktn_model/export) keeps the counts dynamic.
        """
        parts = {name: getattr(self, name).split(counts) for name in self.field_names()}
        return [type(self)(**{name: p[k] for name, p in parts.items()}) for k in range(len(counts))]


@dataclass
class DensePoseOutput(PredictorOutput):
    """Per-RoI chart maps, each (N, C, S, S): M (2 coarse fg/bg logits, 15 for the legacy models), I (25 surface
    logits), U, V (25 each).

    A predictor with more outputs subclasses this dataclass and adds its fields (``KTNOutput``).
    """

    M: Tensor
    I: Tensor  # noqa: E741 (the paper's name)
    U: Tensor
    V: Tensor


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

    def foreground(self) -> np.ndarray:
        """(H, W) bool: the pixels on the body (label > 0)."""
        return self.labels.cpu().numpy() > 0

    def iuv(self) -> np.ndarray:
        """(3, H, W) uint8 [I, U·255, V·255], the official result encoding."""
        return iuv_array(self.labels.cpu().numpy(), self.uv.cpu().numpy())


@dataclass
class DensePoseConfidenceOutput(DensePoseOutput):
    """The chart maps plus confidences (detectron2's ``...WithConfidences`` outputs): the concrete types, one per
    set of enabled confidences, come from ``confidence_output_type``; this class only names the family (its
    result converter)."""


def confidence_output_type(names: tuple[str, ...] | list[str]) -> type:
    """The output type with the confidence fields ``names`` (a subset of ``CONFIDENCE_FIELDS``) after M, I, U, V, in
    ``CONFIDENCE_FIELDS`` order; without any, ``DensePoseOutput``. The same names give the same type."""
    unknown = set(names) - set(CONFIDENCE_FIELDS)
    if unknown:
        raise ValueError(f"unknown confidence fields {sorted(unknown)}; known: {', '.join(CONFIDENCE_FIELDS)}")
    return _confidence_type(tuple(n for n in CONFIDENCE_FIELDS if n in names))


@cache
def _confidence_type(ordered: tuple[str, ...]) -> type:
    if not ordered:
        return DensePoseOutput
    title = "".join(part.title() for n in ordered for part in n.split("_"))
    output_type = make_dataclass(f"DensePoseOutputWith{title}", [(n, Tensor) for n in ordered],
                                 bases=(DensePoseConfidenceOutput,))
    output_type.__module__ = __name__
    return output_type


@dataclass
class DensePoseChartResultWithConfidences(DensePoseChartResult):
    """A chart result plus ``confidences``: name -> (H, W) float32 in the box frame. Per-part confidences (sigma_2,
    kappa_u, kappa_v) are read at each pixel's label and 0 off the body; segmentation confidences hold their one
    channel everywhere (detectron2's ``resample_confidences_to_bbox``)."""

    confidences: dict[str, Tensor]

    def to(self, device: torch.device | str) -> DensePoseChartResultWithConfidences:
        return DensePoseChartResultWithConfidences(self.labels.to(device), self.uv.to(device),
                                                   {k: v.to(device) for k, v in self.confidences.items()})


@dataclass
class DensePoseEmbeddingOutput(PredictorOutput):
    """Per-RoI CSE maps (docs/cse.md): M (N, 2, S, S) coarse fg/bg logits and E (N, D, S, S) the pixel embeddings
    (detectron2's ``DensePoseEmbeddingPredictorOutput``: coarse_segm, embedding)."""

    M: Tensor
    E: Tensor


@dataclass
class DensePoseEmbeddingResult:
    """One CSE detection in its box frame: ``vertices`` (H, W) int64, the closest vertex of mesh ``mesh`` per pixel,
    -1 off the body."""

    vertices: Tensor
    mesh: str

    def to(self, device: torch.device | str) -> DensePoseEmbeddingResult:
        return DensePoseEmbeddingResult(self.vertices.to(device), self.mesh)

    def foreground(self) -> np.ndarray:
        """(H, W) bool: the pixels on the body (a vertex)."""
        return self.vertices.cpu().numpy() >= 0

    def vertex_png(self) -> np.ndarray:
        """(H, W) uint16: vertex index + 1, 0 off the body (the ``_vertices.png`` / ``densepose_cse`` encoding)."""
        return (self.vertices.cpu().numpy() + 1).astype(np.uint16)
