"""RoI feature pooling as detectron2's ``ROIPooler`` (docs/architecture.md): RoIAlign per FPN level.

A box of area A goes to level floor(4 + log2(sqrt(A) / 224 + 1e-8)), clamped to the pooled levels.
``aligned`` is False for ``POOLER_TYPE: ROIAlign`` and True for ``ROIAlignV2``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import box_area, roi_align

POOLER_TYPES = {"ROIAlign": False, "ROIAlignV2": True}  # detectron2 POOLER_TYPE -> roi_align(aligned=...)
CANONICAL_BOX_SIZE, CANONICAL_LEVEL = 224, 4


def aligned_flag(pooler_type: str) -> bool:
    if pooler_type not in POOLER_TYPES:
        raise ValueError(f"POOLER_TYPE must be one of {sorted(POOLER_TYPES)}, got {pooler_type!r}")
    return POOLER_TYPES[pooler_type]


def assign_levels(boxes: Tensor, min_level: int, max_level: int) -> Tensor:
    """(N, 4) XYXY -> (N,) int64 level index from 0 (= ``min_level``), detectron2's rule."""
    sizes = torch.sqrt(box_area(boxes))
    levels = torch.floor(CANONICAL_LEVEL + torch.log2(sizes / CANONICAL_BOX_SIZE + 1e-8))
    return levels.clamp(min_level, max_level).to(torch.int64) - min_level


class ROIPooler(nn.Module):
    """features {'0': P2, ...} and boxes (list of (n_i, 4) in input pixels) -> (Σn_i, C, R, R).

    ``strides`` are the strides of ``featmap_names`` (4, 8, 16, 32 for P2..P5).
    """

    def __init__(self, featmap_names: list[str], strides: list[int], output_size: int, sampling_ratio: int,
                 aligned: bool = False):
        super().__init__()
        self.featmap_names, self.scales = featmap_names, [1.0 / s for s in strides]
        self.levels = [int(math.log2(s)) for s in strides]
        self.output_size, self.sampling_ratio, self.aligned = output_size, sampling_ratio, aligned

    def forward(self, features: dict[str, Tensor], boxes: list[Tensor], image_shapes=None) -> Tensor:
        x = [features[k] for k in self.featmap_names]
        # shape[0], not len(): a traced graph (ktn_model/export) keeps the RoI count dynamic.
        rois = torch.cat([torch.cat([b.new_full((b.shape[0], 1), i), b], dim=1) for i, b in enumerate(boxes)])  # (N, 5)
        if len(x) == 1:
            return self._pool(x[0], rois, self.scales[0])
        level = assign_levels(rois[:, 1:], self.levels[0], self.levels[-1])
        out = rois.new_zeros((rois.shape[0], x[0].shape[1], self.output_size, self.output_size))
        for k, (feature, scale) in enumerate(zip(x, self.scales, strict=True)):
            index = torch.where(level == k)[0]
            pooled = self._pool(feature, rois[index], scale).to(out.dtype)  # (n_k, C, R, R)
            # The same copy as ``out[index] = pooled``, but one that ONNX Runtime also runs for an empty level.
            out.scatter_(0, index[:, None, None, None].expand_as(pooled), pooled)
        return out

    def _pool(self, feature: Tensor, rois: Tensor, scale: float) -> Tensor:
        return roi_align(feature, rois, self.output_size, spatial_scale=scale, sampling_ratio=self.sampling_ratio,
                         aligned=self.aligned)


class DensePosePooler(nn.Module):
    """RoI features of the DensePose branch: RoIAlign on the decoder's map at the finest level's stride (MID, or
    detectron2's decoder) fused from ``levels``, or multi-level from ``levels`` without one. Returns the features
    (Σn_i, C, R, R) and the decoder map (B, C, H/s, W/s), None without a decoder."""

    def __init__(self, decoder: nn.Module | None, levels: list[str], strides: list[int], resolution: int = 28,
                 sampling_ratio: int = 2, aligned: bool = False):
        super().__init__()
        self.mid = decoder
        self.levels = levels
        single = (["p_c"], strides[:1]) if decoder is not None else (levels, strides)
        self.pooler = ROIPooler(*single, resolution, sampling_ratio, aligned)

    def forward(self, features: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
                ) -> tuple[Tensor, Tensor | None]:
        if self.mid is None:
            return self.pooler(features, boxes), None
        p_c = self.mid([features[k] for k in self.levels])
        return self.pooler({"p_c": p_c}, boxes), p_c
