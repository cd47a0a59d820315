"""ktn_model.modeling: the KTN network (DensePose R-CNN* + MID + KTM) on torchvision's detection stack."""

from . import hrfpn  # noqa: F401  (registers build_hrfpn_backbone)
from .build import build_model
from .weights import LoadReport, load_weights

__all__ = ["LoadReport", "build_model", "load_weights"]
