"""Mesh vertex embedders of the CSE models (docs/cse.md, "Vertex embeddings"), under detectron2's names.

``MeshEmbedder`` holds one embedder per mesh as ``embedder_<mesh>`` (detectron2's ``roi_heads.embedder``); each
gives the mesh's vertex embeddings (V, D), L2-normalised. The tensors come from the checkpoint: nothing is read or
downloaded when the model is built.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .detectron2_layout import SAME_NAMES

NORM_EPSILON = 1e-6  # the smallest norm a vertex embedding is divided by


def normalize_rows(x: Tensor) -> Tensor:
    """(V, D) -> each row divided by max(its L2 norm, NORM_EPSILON)."""
    return x / x.norm(dim=1, keepdim=True).clamp(min=NORM_EPSILON)


class VertexDirectEmbedder(nn.Module):
    """``vertex_direct``: one learned D-vector per vertex, ``embeddings`` (V, D)."""

    def __init__(self, num_vertices: int, embed_dim: int):
        super().__init__()
        self.embeddings = nn.Parameter(torch.zeros(num_vertices, embed_dim))

    def forward(self) -> Tensor:
        return normalize_rows(self.embeddings)  # (V, D)


class VertexFeatureEmbedder(nn.Module):
    """``vertex_feature``: fixed vertex ``features`` (V, K) (a Laplace-Beltrami basis) times learned ``embeddings``
    (K, D). The features are a buffer unless ``train_features``."""

    def __init__(self, num_vertices: int, feature_dim: int, embed_dim: int, train_features: bool = False):
        super().__init__()
        features = torch.zeros(num_vertices, feature_dim)
        if train_features:
            self.features = nn.Parameter(features)
        else:
            self.register_buffer("features", features)
        self.embeddings = nn.Parameter(torch.zeros(feature_dim, embed_dim))

    def forward(self) -> Tensor:
        return normalize_rows(self.features @ self.embeddings)  # (V, D)


EMBEDDER_TYPES = ("vertex_direct", "vertex_feature")


class MeshEmbedder(nn.Module):
    """``embedder_<mesh>`` for each mesh; ``self(mesh)`` -> (V, D) vertex embeddings. Its names in a detectron2
    checkpoint are ``roi_heads.embedder.*`` wherever the module sits here."""

    detectron2_prefix = "roi_heads.embedder."

    def __init__(self, meshes: dict[str, nn.Module]):
        super().__init__()
        for name, embedder in meshes.items():
            self.add_module(f"embedder_{name}", embedder)
        self.mesh_names = tuple(meshes)

    @classmethod
    def from_config(cls, cfg) -> MeshEmbedder:
        """One mesh, ``CSE.MESH_NAME``, of ``CSE.EMBEDDER_TYPE`` (ValueError for another type)."""
        cse = cfg.MODEL.ROI_DENSEPOSE_HEAD.CSE
        if cse.EMBEDDER_TYPE == "vertex_direct":
            embedder = VertexDirectEmbedder(cse.NUM_VERTICES, cse.EMBED_SIZE)
        elif cse.EMBEDDER_TYPE == "vertex_feature":
            embedder = VertexFeatureEmbedder(cse.NUM_VERTICES, cse.FEATURE_DIM, cse.EMBED_SIZE)
        else:
            raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.CSE.EMBEDDER_TYPE {cse.EMBEDDER_TYPE!r}: one of "
                             f"{', '.join(EMBEDDER_TYPES)}")
        return cls({cse.MESH_NAME: embedder})

    def forward(self, mesh: str) -> Tensor:
        return getattr(self, f"embedder_{mesh}")()

    def detectron2_rules(self) -> list:
        return SAME_NAMES
