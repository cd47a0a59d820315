"""DensePose losses, one registered file each (``MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME``), and the RoI sampling
they share (``sampling``)."""

from . import chart, chart_with_confidence, cse, ktn, pid  # noqa: F401 (importing registers them)
