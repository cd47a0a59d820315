"""Transitional: ``Predictor`` lives in ``ktn_model.inference.pipeline``. Kept only because
``engine/evaluator.py`` (changed in another branch) still imports it from here; delete when it does not."""

from ktn_model.inference.pipeline import Predictor

__all__ = ["Predictor"]
