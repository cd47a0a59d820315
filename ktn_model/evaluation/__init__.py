"""ktn_model.evaluation: DensePose results encoding and the official GPS / GPSm evaluation."""

from ktn_model.evaluation.densepose_eval import evaluate_densepose
from ktn_model.evaluation.eval_data import EvalData, load_eval_data, save_eval_data
from ktn_model.evaluation.results import decode_iuv, encode_iuv, to_coco_results

__all__ = [
    "EvalData",
    "decode_iuv",
    "encode_iuv",
    "evaluate_densepose",
    "load_eval_data",
    "save_eval_data",
    "to_coco_results",
]
