"""``build_model(cfg)``: the KTN network from the configuration (``ktn_model/config.py``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

import ktn_kg
from ktn_model.data.meta import NUM_COARSE_PARTS
from ktn_model.resources import resolve_graph

from .backbone import build_backbone
from .densepose_heads import HEADS
from .heads import DensePoseHead
from .instance import InstanceStrengthening
from .ktm import GRAPH_TASKS, KTM, VARIANTS
from .ktn import KTN
from .layers import c2_xavier_fill
from .losses import DensePoseLossWeights
from .mid import build_mid
from .pooler import LEVEL_STRIDES, LEVELS, DensePosePooler, ROIPooler, aligned_flag
from .postprocess import DensePosePostProcess
from .predictor import DensePosePredictor
from .roi_heads import KTNRoIHeads
from .rpn import build_rpn
from .transform import KTNTransform

PREDICTORS = ("KTNPredictor", "DensePoseChartPredictor")
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_transform(cfg) -> KTNTransform:
    i = cfg.INPUT
    return KTNTransform(i.MIN_SIZE_TRAIN, i.MAX_SIZE_TRAIN, i.MIN_SIZE_TEST, i.MAX_SIZE_TEST,
                        cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD, i.SIZE_DIVISIBILITY, i.FORMAT)


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
    """The DensePose RoI head named by ``MODEL.ROI_DENSEPOSE_HEAD.NAME``: (N, c_in, R, R) -> (N, out_channels, R, R)."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    dims = dict(c_in=c_in, channels=head.CONV_HEAD_DIM, num_convs=head.NUM_STACKED_CONVS, kernel=head.CONV_HEAD_KERNEL)
    if head.NAME == "DensePoseKTNHead":
        return DensePoseHead(**dims, scale_convs=head.SCALE_CONVS_ON)
    if head.NAME == "DensePoseV1ConvXHead":
        return HEADS[head.NAME](**dims)
    if head.NAME == "DensePoseDeepLabHead":
        return HEADS[head.NAME](**dims, norm=head.DEEPLAB.NORM, nonlocal_on=bool(head.DEEPLAB.NONLOCAL_ON))
    raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.NAME must be DensePoseKTNHead, {' or '.join(HEADS)}, got {head.NAME!r}")


def build_densepose_predictor(cfg, c_in: int, graphs: Mapping[str, np.ndarray] | None) -> DensePosePredictor:
    """``MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME``: the KTN predictor (with S, K and KTM) or detectron2's chart one."""
    dp = cfg.MODEL.ROI_DENSEPOSE_HEAD
    if dp.PREDICTOR_NAME not in PREDICTORS:
        raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME must be one of {PREDICTORS}, "
                         f"got {dp.PREDICTOR_NAME!r}")
    if dp.NUM_COARSE_SEGM_CHANNELS != 2:
        raise ValueError("MODEL.ROI_DENSEPOSE_HEAD.NUM_COARSE_SEGM_CHANNELS: only 2 (fg / bg) is supported")
    ktn = dp.PREDICTOR_NAME == "KTNPredictor"
    if not ktn and dp.KTM != "none":
        raise ValueError("DensePoseChartPredictor has no K and S outputs for KTM: "
                         "set MODEL.ROI_DENSEPOSE_HEAD.KTM none")
    keypoints, parts = (cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS, NUM_COARSE_PARTS + 1) if ktn else (0, 0)
    return DensePosePredictor(c_in, keypoints, parts, dp.NUM_PATCHES + 1, dp.DECONV_KERNEL, dp.UP_SCALE,
                              build_ktm(cfg, graphs))


def load_crkg(cfg, parsers: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The CRKG matrices (release layout, (|C_n|, 25)) of ``parsers``, from ``MODEL.ROI_DENSEPOSE_HEAD.GRAPH``.

    Only the matrices the KTM variant uses are read, so KTM v1 works with a keypoints-only v1 graph.
    """
    graph = ktn_kg.load_graph(resolve_graph(cfg.MODEL.ROI_DENSEPOSE_HEAD.GRAPH))
    return {parser: graph.matrix(GRAPH_TASKS[parser]) for parser in parsers}


def build_ktm(cfg, graphs: Mapping[str, np.ndarray] | None) -> KTM | None:
    """KTM from ``MODEL.ROI_DENSEPOSE_HEAD.KTM`` ("v2", "v1", "none" -> None); ``graphs`` default: the graph file."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    if head.KTM == "none":
        return None
    if head.KTM not in VARIANTS:
        raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.KTM must be v2, v1 or none, got {head.KTM!r}")
    parsers = VARIANTS[head.KTM]
    graphs = load_crkg(cfg, parsers) if graphs is None else graphs
    d_head = head.CONV_HEAD_DIM * head.DECONV_KERNEL**2
    dims = {"kpt": d_head, "part": d_head, "loc": cfg.MODEL.ROI_BOX_HEAD.FC_DIM}
    return KTM({n: graphs[n] for n in parsers}, dims, d_head, head.KT_HIDDEN_DIM, head.KT_LEAKY_SLOPE,
               head.GRAPH_TRAINABLE)


def build_roi_heads(cfg, channels: int, graphs: Mapping[str, np.ndarray] | None) -> KTNRoIHeads:
    h, box, dp = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD, cfg.MODEL.ROI_DENSEPOSE_HEAD
    if dp.HEATMAP_SIZE != dp.POOLER_RESOLUTION * 2 * dp.UP_SCALE:
        raise ValueError(f"HEATMAP_SIZE {dp.HEATMAP_SIZE} must be POOLER_RESOLUTION × 2 × UP_SCALE")
    resolution = box.POOLER_RESOLUTION
    mid = build_mid(cfg)
    if dp.IS_LOSS_ON and mid is None:
        raise ValueError("MODEL.ROI_DENSEPOSE_HEAD.IS_LOSS_ON needs a decoder (DECODER_ON True)")
    instance = InstanceStrengthening(dp.DECODER_OUT_DIMS, dp.IS_LOSS_WEIGHT) if dp.IS_LOSS_ON else None
    dp_in = channels if mid is None else dp.DECODER_OUT_DIMS
    head = build_densepose_head(cfg, dp_in)
    predictor = build_densepose_predictor(cfg, head.out_channels, graphs)
    box_args = dict(fg_iou_thresh=h.IOU_THRESHOLDS[0], bg_iou_thresh=h.IOU_THRESHOLDS[0],
                    batch_size_per_image=h.BATCH_SIZE_PER_IMAGE, positive_fraction=h.POSITIVE_FRACTION,
                    bbox_reg_weights=tuple(box.BBOX_REG_WEIGHTS), score_thresh=h.SCORE_THRESH_TEST,
                    nms_thresh=h.NMS_THRESH_TEST, detections_per_img=cfg.TEST.DETECTIONS_PER_IMAGE)
    weights = DensePoseLossWeights(dp.POINT_REGRESSION_WEIGHTS, dp.PART_WEIGHTS, dp.INDEX_WEIGHTS,
                                   dp.BODY_MASK_WEIGHTS, cfg.MODEL.ROI_KEYPOINT_HEAD.LOSS_WEIGHT)
    return KTNRoIHeads(
        ROIPooler(LEVELS, LEVEL_STRIDES, resolution, box.POOLER_SAMPLING_RATIO, aligned_flag(box.POOLER_TYPE)),
        build_box_head(cfg, channels), build_box_predictor(cfg),
        DensePosePooler(mid, dp.POOLER_RESOLUTION, dp.POOLER_SAMPLING_RATIO, aligned_flag(dp.POOLER_TYPE)), head,
        predictor,
        box_args=box_args, densepose_iou=dp.FG_IOU_THRESHOLD, max_densepose_rois=dp.MAX_ROIS_PER_IMAGE,
        loss_weights=weights, instance_strengthening=instance, box_smooth_l1_beta=box.SMOOTH_L1_BETA,
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
    backbone = build_backbone(cfg)
    channels = backbone.out_channels
    model = KTN(backbone, build_rpn(cfg, channels), build_roi_heads(cfg, channels, graphs), build_transform(cfg))
    return model.to(resolve_device(cfg.MODEL.DEVICE))


def build_postprocess(cfg) -> DensePosePostProcess:
    """The post-processing that belongs to ``build_model(cfg)``'s outputs (DETR's ``PostProcess``)."""
    return DensePosePostProcess(cfg.MODEL.ROI_DENSEPOSE_HEAD.FG_MASK_THRESHOLD)


def resolve_device(name: str) -> torch.device:
    """The torch device of a ``MODEL.DEVICE`` value; "auto" = CUDA when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
