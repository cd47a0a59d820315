"""ktn_model.modeling: the KTN network (DensePose R-CNN* + MID + KTM) on torchvision's detection stack."""

from .build import build_model, predictor_output_type
from .weights import LoadReport, load_weights

__all__ = ["LoadReport", "build_model", "load_weights", "predictor_output_type"]
