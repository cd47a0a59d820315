"""DensePose predictors, one registered file each (``MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME``)."""

from . import chart, chart_with_confidence, cse, ktn, ktnv2_v3, pid  # noqa: F401 (importing registers them)
