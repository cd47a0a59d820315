"""detectron2's ``DensePoseCseLoss`` name, so that the CSE presets build: CSE training is not implemented
(docs/cse.md, "Training"): it needs DensePose-COCO's CSE annotations (a mesh vertex per point) and, for the soft
loss, the meshes' geodesic distances, which this project's data pipeline does not read."""

from __future__ import annotations

from ..registry import DENSEPOSE_LOSSES

TRAINING_NOT_SUPPORTED = ("CSE models (DensePoseEmbeddingPredictor) run inference only here: CSE training is not "
                          "implemented (docs/cse.md, \"Training\")")


@DENSEPOSE_LOSSES.register("DensePoseCseLoss")
class DensePoseCseLoss:
    """Refuses to compute: a ValueError naming what is missing (one line, exit 2 from the CLI)."""

    @classmethod
    def from_config(cls, cfg) -> DensePoseCseLoss:
        return cls()

    def __call__(self, out, rois, targets):
        raise ValueError(TRAINING_NOT_SUPPORTED)
