"""Transitional: ``coco_results`` lives in ``ktn_model.inference.image_outputs``. Kept only because
``engine/evaluator.py`` (changed in another branch) still imports it from here; delete when it does not."""

from ktn_model.inference.image_outputs import coco_results

__all__ = ["coco_results"]
