"""The release's ``DensePoseKTNv2PredictorV3`` (its HRNet-W32 model): the KTN predictor with learned box and part
transfer matrices, K at the deconvolution's resolution, and an I deconvolution that no output uses."""

from __future__ import annotations

import re

import torch
from torch import Tensor

from ktn_model.data.meta import NUM_COARSE_PARTS
from ktn_utils.safe_pickle import safe_load

from ..ktm import ktm_from_graphs, load_crkg
from ..registry import PREDICTORS
from .deconv import chart_dims
from .ktn import KTNPredictor

TRANSFER_INIT_STD = 0.001  # the release's N(0, 0.001) start of the learned box and part transfer matrices
RELEASE_NAMES = {"k_lowres.weight": "body_kpt_weight", "k_lowres.bias": "body_kpt_bias",
                 "ktm.A.kpt": "kpt_surface_transfer_matrix", "ktm.A.loc": "bbox_surface_transfer_matrix",
                 "ktm.A.part": "part_surface_transfer_matrix"}


@PREDICTORS.register("DensePoseKTNv2PredictorV3")
class KTNv2PredictorV3(KTNPredictor):
    """(N, c_in, R, R) -> ``KTNOutput``: M, I (from W_s), U, V, S at 2·R·up_scale; K at 2·R unless
    ``keypoint_up_scale`` > 2. ``i_lowres`` exists only so that the release's checkpoints fit; no output uses it."""

    def __init__(self, c_in: int, num_keypoints: int = 17, num_parts: int = 15, num_surfaces: int = 25,
                 kernel: int = 4, up_scale: int = 2, ktm=None, keypoint_up_scale: int = 2):
        super().__init__(c_in, num_keypoints, num_parts, num_surfaces, kernel, up_scale, ktm)
        self.i_lowres = self.deconv(num_surfaces)
        self.keypoint_up_scale = keypoint_up_scale

    @classmethod
    def from_config(cls, cfg, c_in: int, graphs=None) -> KTNv2PredictorV3:
        """A_kpt starts at the CRKG's keypoint matrix (``graphs`` or the graph file), A_loc and A_part at
        N(0, 0.001); K at ``KPT_CLASSIFIER_WEIGHT_DIR``'s values when it is set."""
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        kpt = (graphs if graphs is not None else load_crkg(cfg, ("kpt",)))["kpt"]
        learned = {"loc": torch.empty(6, head.NUM_PATCHES + 1).normal_(std=TRANSFER_INIT_STD),
                   "part": torch.empty(NUM_COARSE_PARTS + 1, head.NUM_PATCHES + 1).normal_(std=TRANSFER_INIT_STD)}
        predictor = cls(c_in, cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS, NUM_COARSE_PARTS + 1, **chart_dims(cfg),
                        ktm=ktm_from_graphs(cfg, {"kpt": kpt, **learned}), keypoint_up_scale=head.KPT_UP_SCALE)
        if head.KPT_CLASSIFIER_WEIGHT_DIR:
            predictor.load_keypoint_classifier(head.KPT_CLASSIFIER_WEIGHT_DIR)
        return predictor

    def load_keypoint_classifier(self, path: str) -> None:
        """K's deconvolution from the release's pickle {"kpt_weight": (c_in, 17, k, k), "kpt_bias": (17,)}."""
        data = safe_load(path)
        if not isinstance(data, dict) or not {"kpt_weight", "kpt_bias"} <= set(data):
            raise ValueError(f"{path}: expected a dict with kpt_weight and kpt_bias (KPT_CLASSIFIER_WEIGHT_DIR)")
        with torch.no_grad():
            for name, param in (("kpt_weight", self.k_lowres.weight), ("kpt_bias", self.k_lowres.bias)):
                value = torch.as_tensor(data[name], dtype=torch.float32)
                if value.shape != param.shape:
                    raise ValueError(f"{path}: {name} has shape {tuple(value.shape)}, the predictor "
                                     f"{tuple(param.shape)}")
                param.copy_(value)

    def keypoint_maps(self, k_low: Tensor) -> Tensor:
        return self.up(k_low) if self.keypoint_up_scale > 2 else k_low  # (N, 17, 2R, 2R) at the release's default

    def detectron2_rules(self) -> list:
        """The release's V3 names: K is ``body_kpt_weight`` / ``_bias``, A_n the ``*_surface_transfer_matrix``."""
        return [(re.escape(ours), lambda m, theirs=theirs: theirs) for ours, theirs in RELEASE_NAMES.items()] + [
            (r"ktm\.transformer\.(\d)\.(\w+)", lambda m: f"parameter_transformer.{m[1]}.{m[2]}"),
            (r"(\w+_lowres\.\w+)", lambda m: m[1]),
        ]
