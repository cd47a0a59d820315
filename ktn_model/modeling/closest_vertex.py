"""CSE inference (docs/cse.md, "Closest vertices"): per pixel, the mesh vertex whose embedding is nearest to the
pixel's, by squared Euclidean distance, as detectron2's CSE converters and visualisers decide it."""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 10_000  # pixels per distance matrix (chunk × V floats)


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """(M, D), (V, D) -> (M, V): |a_m|² − 2 a_m·b_v + |b_v|² (the matrix-product form, as detectron2 computes it)."""
    return torch.mm(-2 * a, b.t()) + (a * a).sum(1, keepdim=True) + (b * b).sum(1, keepdim=True).t()


def closest_vertices(embedding: Tensor, mask: Tensor, vertex_embeddings: Tensor) -> Tensor:
    """embedding (D, H, W), mask (H, W) bool, vertex_embeddings (V, D) -> (H, W) int64: the index of the closest
    vertex where ``mask``, -1 elsewhere (ties -> lowest index)."""
    out = torch.full(mask.shape, -1, dtype=torch.int64, device=embedding.device)
    pixels = embedding[:, mask].t()  # (M, D)
    if len(pixels):
        out[mask] = torch.cat([squared_distances(chunk, vertex_embeddings).argmin(1) for chunk in pixels.split(CHUNK)])
    return out
