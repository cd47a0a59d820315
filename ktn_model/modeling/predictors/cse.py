"""detectron2's ``DensePoseEmbeddingPredictor`` (continuous surface embeddings, docs/cse.md): coarse segmentation
and a D-dimensional embedding per pixel, plus the mesh vertex embeddings the pixels are compared with."""

from __future__ import annotations

from torch import Tensor, nn

from ..embedder import MeshEmbedder
from ..registry import PREDICTORS
from ..structures import DensePoseEmbeddingOutput
from .deconv import DeconvPredictor


@PREDICTORS.register("DensePoseEmbeddingPredictor")
class DensePoseEmbeddingPredictor(DeconvPredictor):
    """(N, c_in, R, R) -> ``DensePoseEmbeddingOutput``: M (N, 2, S, S) and E (N, D, S, S) at S = 2·R·up_scale.

    ``embedder`` holds the vertex embeddings of the mesh (``MeshEmbedder``, detectron2's ``roi_heads.embedder``);
    ``result_context()`` hands them to the post-processing. Parameter names are detectron2's.
    """

    output_type = DensePoseEmbeddingOutput
    default_loss = "DensePoseCseLoss"

    def __init__(self, c_in: int, embedder: MeshEmbedder, embed_size: int = 16, kernel: int = 4, up_scale: int = 2):
        super().__init__(c_in, kernel, up_scale)
        self.coarse_segm_lowres = self.deconv(2)
        self.embed_lowres = self.deconv(embed_size)
        self.embedder = embedder

    @classmethod
    def from_config(cls, cfg, c_in: int, graphs=None) -> DensePoseEmbeddingPredictor:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        if head.NUM_COARSE_SEGM_CHANNELS != 2:
            raise ValueError("MODEL.ROI_DENSEPOSE_HEAD.NUM_COARSE_SEGM_CHANNELS: DensePoseEmbeddingPredictor "
                             "supports 2 (fg / bg)")
        return cls(c_in, MeshEmbedder.from_config(cfg), head.CSE.EMBED_SIZE, head.DECONV_KERNEL, head.UP_SCALE)

    def forward(self, x: Tensor, box_predictor: nn.Module | None = None) -> DensePoseEmbeddingOutput:
        return DensePoseEmbeddingOutput(M=self.up(self.coarse_segm_lowres(x)), E=self.up(self.embed_lowres(x)))

    def result_context(self) -> dict:
        """What the post-processing needs besides the maps: ``mesh`` = (name, (V, D) vertex embeddings) of the
        first mesh (the one of the person class)."""
        name = self.embedder.mesh_names[0]
        return {"mesh": (name, self.embedder(name).detach())}

    def detectron2_rules(self) -> list:
        return [(r"((coarse_segm|embed)_lowres\.\w+)", lambda m: m[1])]
