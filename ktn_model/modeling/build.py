"""``build_model(cfg)``: the KTN network from the configuration (``ktn_model/config.py``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

from . import backbone as _backbones  # noqa: F401 (importing registers every variant)
from . import heads, hrfpn, losses, predictors  # noqa: F401
from .cascade import with_cascade
from .instance import InstanceStrengthening
from .ktn import KTN
from .layers import c2_xavier_fill
from .mid import build_mid
from .pooler import DensePosePooler, ROIPooler, aligned_flag
from .postprocess import DensePosePostProcess
from .registry import BACKBONES, DENSEPOSE_HEADS, DENSEPOSE_LOSSES, PREDICTORS
from .roi_heads import KTNRoIHeads
from .rpn import build_rpn
from .transform import KTNTransform
from .winograd import use_winograd

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_transform(cfg, size_divisibility: int) -> KTNTransform:
    i = cfg.INPUT
    return KTNTransform(i.MIN_SIZE_TRAIN, i.MAX_SIZE_TRAIN, i.MIN_SIZE_TEST, i.MAX_SIZE_TEST,
                        cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD, size_divisibility, i.FORMAT)


def build_box_head(cfg, channels: int) -> TwoMLPHead:
    """fc6, fc7 with detectron2's ``c2_xavier_fill``."""
    head = TwoMLPHead(channels * cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION**2, cfg.MODEL.ROI_BOX_HEAD.FC_DIM)
    for fc in (head.fc6, head.fc7):
        c2_xavier_fill(fc)
    return head


def build_box_predictor(cfg) -> FastRCNNPredictor:
    """cls_score (C+1 rows, background first) and bbox_pred (4 rows per class, background first).

    detectron2's N(0, 0.01) / N(0, 0.001) init. The background rows of bbox_pred are never used (no loss, no
    inference) and start at 0, so they stay 0 and a detectron2 checkpoint (which has none) converts both ways.
    """
    predictor = FastRCNNPredictor(cfg.MODEL.ROI_BOX_HEAD.FC_DIM, cfg.MODEL.ROI_HEADS.NUM_CLASSES + 1)
    for layer, std in ((predictor.cls_score, 0.01), (predictor.bbox_pred, 0.001)):
        nn.init.normal_(layer.weight, std=std)
        nn.init.zeros_(layer.bias)
    nn.init.zeros_(predictor.bbox_pred.weight[:4])
    return predictor


def build_densepose_head(cfg, c_in: int) -> nn.Module:
    """The head named by ``MODEL.ROI_DENSEPOSE_HEAD.NAME``: (N, c_in, R, R) -> (N, out_channels, R, R)."""
    return DENSEPOSE_HEADS.get(cfg.MODEL.ROI_DENSEPOSE_HEAD.NAME).from_config(cfg, c_in)


def build_densepose_predictor(cfg, c_in: int, graphs: Mapping[str, np.ndarray] | None) -> nn.Module:
    """The predictor named by ``MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME``: (N, c_in, R, R) -> its ``output_type``."""
    return PREDICTORS.get(cfg.MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME).from_config(cfg, c_in, graphs)


def predictor_output_type(cfg) -> type:
    """The output type of the predictor ``cfg`` names, without building it (an exported graph's outputs)."""
    return PREDICTORS.get(cfg.MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME).output_type_for(cfg)


def build_densepose_loss(cfg, predictor: nn.Module):
    """``MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME``, or the predictor's ``default_loss`` when that is empty."""
    return DENSEPOSE_LOSSES.get(cfg.MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME or predictor.default_loss).from_config(cfg)


def build_roi_heads(cfg, backbone: nn.Module, graphs: Mapping[str, np.ndarray] | None) -> KTNRoIHeads:
    """Box and DensePose branches on the backbone's ``roi_levels``."""
    h, box, dp = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD, cfg.MODEL.ROI_DENSEPOSE_HEAD
    if dp.HEATMAP_SIZE != dp.POOLER_RESOLUTION * 2 * dp.UP_SCALE:
        raise ValueError(f"HEATMAP_SIZE {dp.HEATMAP_SIZE} must be POOLER_RESOLUTION × 2 × UP_SCALE")
    resolution, channels = box.POOLER_RESOLUTION, backbone.out_channels
    levels = backbone.roi_levels
    strides = [backbone.strides[level] for level in levels]
    mid = build_mid(cfg, len(levels))
    if dp.IS_LOSS_ON and mid is None:
        raise ValueError("MODEL.ROI_DENSEPOSE_HEAD.IS_LOSS_ON needs a decoder (DECODER_ON True)")
    instance = InstanceStrengthening(dp.DECODER_OUT_DIMS, dp.IS_LOSS_WEIGHT) if dp.IS_LOSS_ON else None
    dp_in = channels if mid is None else dp.DECODER_OUT_DIMS
    head = build_densepose_head(cfg, dp_in)
    predictor = build_densepose_predictor(cfg, head.out_channels, graphs)
    predictor, loss = with_cascade(cfg, head.out_channels, predictor, build_densepose_loss(cfg, predictor))
    if cfg.TEST.WINOGRAD:
        for module in (head, predictor) if mid is None else (mid, head, predictor):
            use_winograd(module)
    box_args = dict(fg_iou_thresh=h.IOU_THRESHOLDS[0], bg_iou_thresh=h.IOU_THRESHOLDS[0],
                    batch_size_per_image=h.BATCH_SIZE_PER_IMAGE, positive_fraction=h.POSITIVE_FRACTION,
                    bbox_reg_weights=tuple(box.BBOX_REG_WEIGHTS), score_thresh=h.SCORE_THRESH_TEST,
                    nms_thresh=h.NMS_THRESH_TEST, detections_per_img=cfg.TEST.DETECTIONS_PER_IMAGE)
    return KTNRoIHeads(
        ROIPooler(levels, strides, resolution, box.POOLER_SAMPLING_RATIO, aligned_flag(box.POOLER_TYPE)),
        build_box_head(cfg, channels), build_box_predictor(cfg),
        DensePosePooler(mid, levels, strides, dp.POOLER_RESOLUTION, dp.POOLER_SAMPLING_RATIO,
                        aligned_flag(dp.POOLER_TYPE)),
        head, predictor, loss,
        box_args=box_args, densepose_iou=dp.FG_IOU_THRESHOLD, max_densepose_rois=dp.MAX_ROIS_PER_IMAGE,
        instance_strengthening=instance, box_smooth_l1_beta=box.SMOOTH_L1_BETA,
        densepose_dtype=inference_dtype(cfg))


def inference_dtype(cfg) -> torch.dtype:
    """``TEST.DENSEPOSE_PRECISION`` as a dtype (ValueError for an unknown name)."""
    name = cfg.TEST.DENSEPOSE_PRECISION
    if name not in PRECISIONS:
        raise ValueError(f"TEST.DENSEPOSE_PRECISION must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return PRECISIONS[name]


def build_model(cfg, graphs: Mapping[str, np.ndarray] | None = None) -> KTN:
    """The KTN network of ``cfg``, randomly initialised (see ``load_weights``), on ``MODEL.DEVICE``.

    ``graphs`` ({"kpt": (17, 25), "part": (15, 25), "loc": (6, 25)} in the release layout) overrides the
    graph file ``MODEL.ROI_DENSEPOSE_HEAD.GRAPH``, which is read only when a KTM is configured.
    """
    backbone = BACKBONES.get(cfg.MODEL.BACKBONE.NAME)(cfg)
    model = KTN(backbone, build_rpn(cfg, backbone.out_channels), build_roi_heads(cfg, backbone, graphs),
                build_transform(cfg, backbone.size_divisibility))
    return model.to(resolve_device(cfg.MODEL.DEVICE))


def build_postprocess(cfg) -> DensePosePostProcess:
    """The post-processing that belongs to ``build_model(cfg)``'s outputs (DETR's ``PostProcess``)."""
    return DensePosePostProcess(cfg.MODEL.ROI_DENSEPOSE_HEAD.FG_MASK_THRESHOLD)


def resolve_device(name: str) -> torch.device:
    """The torch device of a ``MODEL.DEVICE`` value; "auto" = CUDA when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
