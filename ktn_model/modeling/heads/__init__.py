"""DensePose RoI heads, one registered file each (``MODEL.ROI_DENSEPOSE_HEAD.NAME``)."""

from . import deeplab, ktn, pid, v1convx  # noqa: F401 (importing registers them)
