"""DensePose losses, one registered file each (``MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME``), and the RoI sampling
they share (``sampling``)."""

from . import chart, ktn, pid  # noqa: F401 (importing registers them)
