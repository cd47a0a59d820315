"""All configuration keys in one place, with detectron2's key names.

``get_cfg()`` returns the defaults (the released R50 KTNv2 settings: docs/method.md; what differs and
its switch: docs/differences.md). YAML files may name a ``_BASE_`` file (relative to themselves) that is
loaded first; ``KEY VALUE`` pairs from the command line are merged last.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yacs.config import CfgNode as _YacsNode

from ktn_model.data.meta import NUM_KEYPOINTS
from ktn_model.resources import resolve_config

BASE_KEY = "_BASE_"


class CfgNode(_YacsNode):
    """yacs ``CfgNode`` with detectron2's ``_BASE_`` inheritance."""

    def merge_from_file(self, cfg_filename: str | Path) -> None:
        """Merge a YAML file (with its ``_BASE_``); an unknown key or a wrong type names the file and the key."""
        data = load_yaml_with_base(cfg_filename)
        try:
            self.merge_from_other_cfg(CfgNode(data))
        except (KeyError, ValueError) as e:
            raise ValueError(f"{cfg_filename}: {_yacs_problem(e)}") from None

    def merge_from_list(self, cfg_list: list) -> None:
        """Merge ``[KEY, VALUE, ...]``; an unknown key, a missing value or a wrong type is an error naming the key."""
        check_overrides(cfg_list)
        for key in cfg_list[0::2]:
            node = self
            for part in key.split("."):
                if not isinstance(node, _YacsNode) or part not in node:
                    raise KeyError(f"unknown config key {key!r}")
                node = node[part]
        try:
            super().merge_from_list(cfg_list)
        except ValueError as e:
            raise ValueError(f"override {_yacs_problem(e)}") from None


def load_yaml_with_base(path: str | Path) -> dict:
    """Read a YAML config, recursively merging the file named by ``_BASE_`` underneath it."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a folder, not a YAML config file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a YAML config file (not UTF-8 text)") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({_yaml_problem(e)})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping of keys")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    merged = load_yaml_with_base(path.parent / base)
    _deep_update(merged, data)
    return merged


def _deep_update(dst: dict, src: dict) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_update(dst[key], value)
        else:
            dst[key] = value


def get_cfg() -> CfgNode:
    """A fresh copy of the default configuration."""
    return _C.clone()


def setup_cfg(config_file: str | Path | None = None, opts: list[str] | None = None,
              dumped: str | None = None) -> CfgNode:
    """Defaults, then ``config_file`` (a path or a shipped preset name) or ``dumped`` (the text of
    ``cfg.dump()``, e.g. the config an exported model carries), then ``KEY VALUE`` overrides; frozen."""
    cfg = get_cfg()
    if config_file:
        cfg.merge_from_file(resolve_config(config_file))
    if dumped is not None:
        cfg.merge_from_other_cfg(CfgNode.load_cfg(dumped))
    if opts:
        cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


_C = CfgNode()
_C.SEED = 0
_C.OUTPUT_DIR = "output"

# ---------------------------------------------------------------------------------------------
_C.MODEL = CfgNode()
_C.MODEL.DEVICE = "auto"  # "auto" = CUDA when available, else CPU; or "cpu", "cuda", "cuda:1"
# Local checkpoint path, "torchvision:<WeightsEnum>.<NAME>", or "" for random initialisation.
_C.MODEL.WEIGHTS = ""

_C.MODEL.BACKBONE = CfgNode()
# A registered backbone (ktn_model/modeling/registry.py): detectron2's "build_resnet_fpn_backbone" (depth from
# MODEL.RESNETS.DEPTH) or a torchvision name (resnet18 | resnet34 | resnet50 | resnet101 | resnext101_32x8d |
# mobilenet_v3_large).
_C.MODEL.BACKBONE.NAME = "resnet50"
# Number of leading stages frozen (detectron2's FREEZE_AT): 2 = stem + res2.
_C.MODEL.BACKBONE.FREEZE_AT = 2
# "FrozenBN" (released, needs pretrained weights) | "BN" | "GN" (train from scratch).
_C.MODEL.BACKBONE.NORM = "FrozenBN"

_C.MODEL.FPN = CfgNode()
_C.MODEL.FPN.OUT_CHANNELS = 256

# Per channel, in INPUT.FORMAT order and 0-255 units (detectron2's convention). The default is torchvision's
# ImageNet normalisation (RGB); detectron2's MSRA/caffe2 models use BGR [103.53, 116.28, 123.675], std 1.
_C.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
_C.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]

_C.MODEL.RESNETS = CfgNode()
_C.MODEL.RESNETS.DEPTH = 50  # for "build_resnet_fpn_backbone": 18, 34, 50 or 101
# True: the stride of each stage sits on its first 1×1 conv (detectron2's MSRA ResNets, needed for their
# checkpoints); False: on the 3×3 conv (torchvision's ResNets and ImageNet weights).
_C.MODEL.RESNETS.STRIDE_IN_1X1 = False

# HRNet + HRFPN (MODEL.BACKBONE.NAME build_hrfpn_backbone), the release's add_hrnet_config defaults (W32).
# W40 / W48: NUM_CHANNELS [40, 80, 160, 320] / [48, 96, 192, 384] (stage k uses the first k).
_C.MODEL.HRNET = CfgNode()
_C.MODEL.HRNET.STEM_INPLANES = 64
_C.MODEL.HRNET.STAGE2 = CfgNode()
_C.MODEL.HRNET.STAGE2.NUM_MODULES = 1
_C.MODEL.HRNET.STAGE2.NUM_BRANCHES = 2
_C.MODEL.HRNET.STAGE2.BLOCK = "BASIC"  # BASIC | BOTTLENECK
_C.MODEL.HRNET.STAGE2.NUM_BLOCKS = [4, 4]
_C.MODEL.HRNET.STAGE2.NUM_CHANNELS = [32, 64]
_C.MODEL.HRNET.STAGE2.FUSE_METHOD = "SUM"  # the only one (as released)
_C.MODEL.HRNET.STAGE3 = CfgNode()
_C.MODEL.HRNET.STAGE3.NUM_MODULES = 4
_C.MODEL.HRNET.STAGE3.NUM_BRANCHES = 3
_C.MODEL.HRNET.STAGE3.BLOCK = "BASIC"
_C.MODEL.HRNET.STAGE3.NUM_BLOCKS = [4, 4, 4]
_C.MODEL.HRNET.STAGE3.NUM_CHANNELS = [32, 64, 128]
_C.MODEL.HRNET.STAGE3.FUSE_METHOD = "SUM"
_C.MODEL.HRNET.STAGE4 = CfgNode()
_C.MODEL.HRNET.STAGE4.NUM_MODULES = 3
_C.MODEL.HRNET.STAGE4.NUM_BRANCHES = 4
_C.MODEL.HRNET.STAGE4.BLOCK = "BASIC"
_C.MODEL.HRNET.STAGE4.NUM_BLOCKS = [4, 4, 4, 4]
_C.MODEL.HRNET.STAGE4.NUM_CHANNELS = [32, 64, 128, 256]
_C.MODEL.HRNET.STAGE4.FUSE_METHOD = "SUM"
_C.MODEL.HRNET.HRFPN = CfgNode()
_C.MODEL.HRNET.HRFPN.OUT_CHANNELS = 256

_C.MODEL.ANCHOR_GENERATOR = CfgNode()
_C.MODEL.ANCHOR_GENERATOR.SIZES = [[32], [64], [128], [256], [512]]
_C.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]

_C.MODEL.RPN = CfgNode()
_C.MODEL.RPN.PRE_NMS_TOPK_TRAIN = 2000  # per level
_C.MODEL.RPN.PRE_NMS_TOPK_TEST = 1000
_C.MODEL.RPN.POST_NMS_TOPK_TRAIN = 1000  # per image, as detectron2 (torchvision's default is 2000)
_C.MODEL.RPN.POST_NMS_TOPK_TEST = 1000
_C.MODEL.RPN.NMS_THRESH = 0.7
_C.MODEL.RPN.BATCH_SIZE_PER_IMAGE = 256
_C.MODEL.RPN.POSITIVE_FRACTION = 0.5
_C.MODEL.RPN.IOU_THRESHOLDS = [0.3, 0.7]
# Smooth-L1 transition of the RPN box loss; 0 = L1 (detectron2 and the release; torchvision uses 1/9).
_C.MODEL.RPN.SMOOTH_L1_BETA = 0.0

_C.MODEL.ROI_HEADS = CfgNode()
_C.MODEL.ROI_HEADS.NUM_CLASSES = 1  # person
_C.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512
_C.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25
_C.MODEL.ROI_HEADS.IOU_THRESHOLDS = [0.5]
_C.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.05
_C.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.5

_C.MODEL.ROI_BOX_HEAD = CfgNode()
_C.MODEL.ROI_BOX_HEAD.FC_DIM = 1024
_C.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7
_C.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 2
_C.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlign"  # "ROIAlign" (aligned=False, the DensePose configs) | "ROIAlignV2"
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = [10.0, 10.0, 5.0, 5.0]
# Smooth-L1 transition of the box-head regression loss; 0 = L1 (as MODEL.RPN.SMOOTH_L1_BETA).
_C.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA = 0.0

_C.MODEL.ROI_KEYPOINT_HEAD = CfgNode()
_C.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS = NUM_KEYPOINTS
_C.MODEL.ROI_KEYPOINT_HEAD.LOSS_WEIGHT = 0.1

_C.MODEL.ROI_DENSEPOSE_HEAD = CfgNode()
# A registered head (ktn_model/modeling/heads/): "DensePoseKTNHead" (ScaleConvs + conv-GN stack, the KTN release),
# or detectron2's "DensePoseV1ConvXHead" (plain 3×3 convs) and "DensePoseDeepLabHead" (ASPP [+ non-local] + conv-GN).
_C.MODEL.ROI_DENSEPOSE_HEAD.NAME = "DensePoseKTNHead"
_C.MODEL.ROI_DENSEPOSE_HEAD.DEEPLAB = CfgNode()
_C.MODEL.ROI_DENSEPOSE_HEAD.DEEPLAB.NORM = "GN"  # "GN" | "" (convs with bias)
_C.MODEL.ROI_DENSEPOSE_HEAD.DEEPLAB.NONLOCAL_ON = False
# A registered predictor (ktn_model/modeling/predictors/): "KTNPredictor" (M, I, U, V plus S coarse parts and
# K keypoints; I from W_s when KTM is on) or detectron2's "DensePoseChartPredictor" (M, I, U, V).
_C.MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME = "KTNPredictor"
# A registered DensePose loss (ktn_model/modeling/losses/); "" = the predictor's own (its ``default_loss``).
_C.MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME = ""
# The decoder that fuses P2..P5 into one stride-4 map before the DensePose RoIAlign (MID): "MIDv2" (the
# released KTNv2 decoder) or "MIDv1" (KTNv1's, which is detectron2's DensePose decoder). DECODER_ON False:
# multi-level RoIAlign from P2..P5 (the baseline).
_C.MODEL.ROI_DENSEPOSE_HEAD.DECODER_ON = True
_C.MODEL.ROI_DENSEPOSE_HEAD.DECODER_NAME = "MIDv2"
_C.MODEL.ROI_DENSEPOSE_HEAD.DECODER_CONV_DIMS = 256
_C.MODEL.ROI_DENSEPOSE_HEAD.DECODER_OUT_DIMS = 256
_C.MODEL.ROI_DENSEPOSE_HEAD.DECODER_MULTI_SCALE_ON = True
# Optional image-level instance-strengthening segmentation loss (docs/method.md, "Instance strengthening (IS)").
_C.MODEL.ROI_DENSEPOSE_HEAD.IS_LOSS_ON = False
_C.MODEL.ROI_DENSEPOSE_HEAD.IS_LOSS_WEIGHT = 1.0
# KTM variant: "v2" (kpt + part + box parsers, docs/method.md, "KTM"), "v1" (keypoints only) or "none"
# (a learned I deconv: the "DensePose RCNN*" baseline, docs/method.md, "Ablation presets").
_C.MODEL.ROI_DENSEPOSE_HEAD.KTM = "v2"
# CRKG graph file read through ktn_kg.load_graph (the CLI's --graph sets this).
_C.MODEL.ROI_DENSEPOSE_HEAD.GRAPH = "graphs/v2.pkl"
_C.MODEL.ROI_DENSEPOSE_HEAD.GRAPH_TRAINABLE = True
_C.MODEL.ROI_DENSEPOSE_HEAD.KT_LEAKY_SLOPE = 0.02  # released code; the paper says 0.2
_C.MODEL.ROI_DENSEPOSE_HEAD.KT_HIDDEN_DIM = 0  # 0 = the W_s width (512*4*4 = 8192 at CONV_HEAD_DIM 512)
# DensePoseKTNv2PredictorV3 only (the release's HRNet model): K is up-scaled like the other maps only when this
# is above 2 (the release's rule), and KPT_CLASSIFIER_WEIGHT_DIR (a pickle of {"kpt_weight": (C, 17, k, k),
# "kpt_bias": (17,)}, e.g. a trained keypoint classifier) gives K its initial values for training ("" = random).
_C.MODEL.ROI_DENSEPOSE_HEAD.KPT_UP_SCALE = 2
_C.MODEL.ROI_DENSEPOSE_HEAD.KPT_CLASSIFIER_WEIGHT_DIR = ""
_C.MODEL.ROI_DENSEPOSE_HEAD.SCALE_CONVS_ON = True
_C.MODEL.ROI_DENSEPOSE_HEAD.NUM_STACKED_CONVS = 8
_C.MODEL.ROI_DENSEPOSE_HEAD.CONV_HEAD_DIM = 512
_C.MODEL.ROI_DENSEPOSE_HEAD.CONV_HEAD_KERNEL = 3
_C.MODEL.ROI_DENSEPOSE_HEAD.POOLER_RESOLUTION = 28
_C.MODEL.ROI_DENSEPOSE_HEAD.POOLER_SAMPLING_RATIO = 2
_C.MODEL.ROI_DENSEPOSE_HEAD.POOLER_TYPE = "ROIAlign"
_C.MODEL.ROI_DENSEPOSE_HEAD.HEATMAP_SIZE = 112
_C.MODEL.ROI_DENSEPOSE_HEAD.DECONV_KERNEL = 4
_C.MODEL.ROI_DENSEPOSE_HEAD.UP_SCALE = 2
_C.MODEL.ROI_DENSEPOSE_HEAD.NUM_PATCHES = 24
_C.MODEL.ROI_DENSEPOSE_HEAD.NUM_COARSE_SEGM_CHANNELS = 2  # M: foreground / background (the only value)
_C.MODEL.ROI_DENSEPOSE_HEAD.FG_IOU_THRESHOLD = 0.65
_C.MODEL.ROI_DENSEPOSE_HEAD.FG_MASK_THRESHOLD = 0.3
# Cap on DensePose training RoIs per image (0 = no cap); the slim CPU preset uses it.
_C.MODEL.ROI_DENSEPOSE_HEAD.MAX_ROIS_PER_IMAGE = 0
_C.MODEL.ROI_DENSEPOSE_HEAD.POINT_REGRESSION_WEIGHTS = 0.01
_C.MODEL.ROI_DENSEPOSE_HEAD.PART_WEIGHTS = 1.0
_C.MODEL.ROI_DENSEPOSE_HEAD.INDEX_WEIGHTS = 2.0
_C.MODEL.ROI_DENSEPOSE_HEAD.BODY_MASK_WEIGHTS = 5.0
# PID-net (NAME "DensePosePIDHead" with PREDICTOR_NAME "DensePosePIDPredictor", docs/other_systems.md, "PID-net"):
# the intermediate semantic-mask loss is INTER_WEIGHTS × INDEX_WEIGHTS, the instance-aware term (PID-net's
# USE_CLS_EMBS) CLS_EMBS_WEIGHT (0 = off) and the extra dense I/U/V terms EXTRA_DENSE_WEIGHT × the point terms'.
_C.MODEL.ROI_DENSEPOSE_HEAD.PID = CfgNode()
_C.MODEL.ROI_DENSEPOSE_HEAD.PID.INTER_WEIGHTS = 0.1
_C.MODEL.ROI_DENSEPOSE_HEAD.PID.CLS_EMBS_WEIGHT = 2.0
_C.MODEL.ROI_DENSEPOSE_HEAD.PID.EXTRA_DENSE_WEIGHT = 0.1
# DensePose R-CNN's cross-cascading refinement (docs/other_systems.md, "Cross-cascading refinement"): a second
# stage refines every output of the first from the head features and the first stage's maps; off as in KTN.
_C.MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON = False
_C.MODEL.ROI_DENSEPOSE_HEAD.CASCADE_NUM_CONVS = 2
_C.MODEL.ROI_DENSEPOSE_HEAD.CASCADE_CONV_DIM = 0  # 0 = CONV_HEAD_DIM
_C.MODEL.ROI_DENSEPOSE_HEAD.CASCADE_EMBED_DIM = 64  # the first stage's maps are embedded to this many channels
_C.MODEL.ROI_DENSEPOSE_HEAD.CASCADE_STAGE1_WEIGHT = 1.0  # deep supervision: the first stage's losses × this
# Teacher inpainting (docs/other_systems.md, "Teacher inpainting"): the pseudo-labelled points of
# DATASETS.TRAIN_PSEUDO_LABELS are supervised with the I, U, V point losses × this weight.
_C.MODEL.ROI_DENSEPOSE_HEAD.PSEUDO_LABEL_WEIGHT = 0.2
# Confidence estimation (detectron2's DensePoseChartWithConfidencePredictor, docs/confidence.md): U/V confidences
# ("iid_iso": sigma_2; "indep_aniso": sigma_2, kappa_u, kappa_v) with sigma^2 = softplus(sigma_2) + EPSILON, and
# segmentation confidences that multiply the M and I logits (the "M" presets).
_C.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE = CfgNode()
_C.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.ENABLED = False
_C.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.EPSILON = 0.01
_C.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.TYPE = "iid_iso"  # "iid_iso" | "indep_aniso"
_C.MODEL.ROI_DENSEPOSE_HEAD.SEGM_CONFIDENCE = CfgNode()
_C.MODEL.ROI_DENSEPOSE_HEAD.SEGM_CONFIDENCE.ENABLED = False
_C.MODEL.ROI_DENSEPOSE_HEAD.SEGM_CONFIDENCE.EPSILON = 0.01
# Continuous surface embeddings (detectron2's DensePoseEmbeddingPredictor, docs/cse.md): a D-dim embedding per pixel,
# compared with the vertex embeddings of one mesh. EMBEDDER_TYPE "vertex_feature" (features (V, FEATURE_DIM) @
# embeddings (FEATURE_DIM, D)) or "vertex_direct" (embeddings (V, D)); both come from the checkpoint.
_C.MODEL.ROI_DENSEPOSE_HEAD.CSE = CfgNode()
_C.MODEL.ROI_DENSEPOSE_HEAD.CSE.EMBED_SIZE = 16
# The mesh of the person class (detectron2's CLASS_TO_MESH_NAME_MAPPING "0").
_C.MODEL.ROI_DENSEPOSE_HEAD.CSE.MESH_NAME = "smpl_27554"
_C.MODEL.ROI_DENSEPOSE_HEAD.CSE.EMBEDDER_TYPE = "vertex_feature"
_C.MODEL.ROI_DENSEPOSE_HEAD.CSE.NUM_VERTICES = 27554
_C.MODEL.ROI_DENSEPOSE_HEAD.CSE.FEATURE_DIM = 256

# ---------------------------------------------------------------------------------------------
_C.INPUT = CfgNode()
_C.INPUT.MIN_SIZE_TRAIN = [640, 672, 704, 736, 768, 800]
_C.INPUT.MAX_SIZE_TRAIN = 1333
_C.INPUT.MIN_SIZE_TEST = 800
_C.INPUT.MAX_SIZE_TEST = 1333
_C.INPUT.SIZE_DIVISIBILITY = 32
_C.INPUT.FORMAT = "RGB"  # channel order the network sees: "RGB" | "BGR" (detectron2's MSRA models)
_C.INPUT.HFLIP_TRAIN = True
# UV_symmetry_transforms.mat, needed while HFLIP_TRAIN is on (training stops at start without it); the
# R-50 presets point at datasets/UV_data/, where DensePose's UV-data download puts it.
_C.INPUT.UV_SYMMETRY_FILE = ""

_C.DATASETS = CfgNode()
_C.DATASETS.ROOT = "datasets"
# Registered names (densepose_coco_2014_train, ...) or "path/to/ann.json:path/to/images".
_C.DATASETS.TRAIN = ["densepose_coco_2014_train", "densepose_coco_2014_valminusminival"]
_C.DATASETS.TEST = ["densepose_coco_2014_minival"]
# Dense pseudo-labels written by `ktn inpaint` for the training sets, one file per DATASETS.TRAIN entry in the
# same order ("" for a set without); [] = none. A file made from other annotations is refused at start.
_C.DATASETS.TRAIN_PSEUDO_LABELS = []

_C.DATALOADER = CfgNode()
_C.DATALOADER.NUM_WORKERS = 4
_C.DATALOADER.ASPECT_RATIO_GROUPING = True

# ---------------------------------------------------------------------------------------------
_C.SOLVER = CfgNode()
_C.SOLVER.IMS_PER_BATCH = 16  # global, over all workers
_C.SOLVER.BASE_LR = 0.01
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.WEIGHT_DECAY = 1e-4
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
_C.SOLVER.MAX_ITER = 130000
_C.SOLVER.STEPS = [100000, 120000]
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.WARMUP_ITERS = 1000
_C.SOLVER.WARMUP_FACTOR = 0.1
_C.SOLVER.CHECKPOINT_PERIOD = 10000
_C.SOLVER.MAX_TO_KEEP = 3
_C.SOLVER.LOG_PERIOD = 20  # iterations between metrics.jsonl records / progress updates
_C.SOLVER.AMP = True  # used on CUDA only
_C.SOLVER.CLIP_GRADIENTS = CfgNode()
_C.SOLVER.CLIP_GRADIENTS.ENABLED = False
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0

_C.TEST = CfgNode()
_C.TEST.EVAL_PERIOD = 0  # 0 = only at the end
_C.TEST.DETECTIONS_PER_IMAGE = 100
# Arithmetic of the DensePose branch (MID, head, predictor) at inference: "float32", or "bfloat16" / "float16"
# through torch.autocast. Opt-in: faster on CPUs with AVX-512 BF16 and on GPUs; the detections stay the float32
# ones, the DensePose maps (and the keypoints from K) differ slightly (docs/export.md, "Reduced precision").
# Training and exported graphs run in float32.
_C.TEST.DENSEPOSE_PRECISION = "float32"
# The DensePose branch's 3×3 convolutions (MID, head, predictor) at CPU float32 inference through Winograd
# F(4×4, 3×3): the same map with 4× fewer multiply-adds, rounded differently (~1e-6 of the outputs' scale;
# modeling/winograd.py). False: direct.
_C.TEST.WINOGRAD = True
# Directory with SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat and Pdist_matrix.pkl.
_C.TEST.EVAL_DATA_DIR = "datasets/densepose_eval_data"


# ---------------------------------------------------------------------------------------------
# The saved config of a run, beside its checkpoints (``ktn train --resume`` and ``ktn infer`` read it).
RUN_CONFIG_FILE = "config.yaml"
_YACS_TYPE = re.compile(r"Type mismatch \(<class '(\w+)'> vs\. <class '(\w+)'>\) with values \((.*) vs\. (.*)\) "
                        r"for config key: (\S+)")


def _yacs_problem(e: Exception) -> str:
    """yacs' unknown-key and type-mismatch messages as ``KEY: problem``."""
    message = str(e.args[0] if e.args else e)
    if m := _YACS_TYPE.fullmatch(message):
        return f"{m[5]}: expected {m[1]} (like {m[3]}), got {m[4]!r} ({m[2]})"
    return message.replace("Non-existent config key: ", "unknown config key ")


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line: where, then what."""
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(getattr(e, "problem", None) or e).split())


def check_overrides(opts: list) -> None:
    """``KEY VALUE`` pairs: a key without a value, or an option where a key belongs, is a ValueError naming it."""
    for key in opts[0::2]:
        if not isinstance(key, str) or not key or key.startswith("-"):
            raise ValueError(f"{key}: not a config key (options go before the KEY VALUE overrides)")
    if len(opts) % 2:
        raise ValueError(f"{opts[-1]}: no value given (overrides are KEY VALUE pairs)")


@dataclass(frozen=True)
class Bound:
    """The range a config number must lie in: ``low`` to ``high``, each end closed unless marked open."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def holds(self, v: float) -> bool:
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        return math.isfinite(v) and above and below

    def rule(self) -> str:
        if self.high == math.inf:
            return f"must be greater than {self.low}" if self.low_open else f"must be at least {self.low}"
        return f"must be in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


def _at_least(minimum: int) -> Bound:
    return Bound(minimum)


def _in(low: float, high: float, closed_low: bool = True, closed_high: bool = True) -> Bound:
    return Bound(low, high, not closed_low, not closed_high)


_POSITIVE = Bound(0, low_open=True)
# Numbers used at test time (inference, export, evaluation) and, with them, by training.
TEST_RULES = {
    "INPUT.MIN_SIZE_TEST": _at_least(1),
    "INPUT.MAX_SIZE_TEST": _at_least(1),
    "INPUT.SIZE_DIVISIBILITY": _at_least(0),
    "TEST.DETECTIONS_PER_IMAGE": _at_least(1),
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST": _in(0, 1),
    "MODEL.ROI_HEADS.NMS_THRESH_TEST": _in(0, 1),
    "MODEL.RPN.NMS_THRESH": _in(0, 1),
    "MODEL.RPN.PRE_NMS_TOPK_TEST": _at_least(1),
    "MODEL.RPN.POST_NMS_TOPK_TEST": _at_least(1),
}
# Numbers only training reads: the schedule, batch sizes, sizes, periods.
TRAIN_RULES = {
    "SOLVER.MAX_ITER": _at_least(1),
    "SOLVER.IMS_PER_BATCH": _at_least(1),
    "SOLVER.BASE_LR": _POSITIVE,
    "SOLVER.MOMENTUM": _in(0, 1, closed_high=False),
    "SOLVER.WEIGHT_DECAY": _at_least(0),
    "SOLVER.WEIGHT_DECAY_NORM": _at_least(0),
    "SOLVER.GAMMA": _POSITIVE,
    "SOLVER.WARMUP_ITERS": _at_least(0),
    "SOLVER.WARMUP_FACTOR": _in(0, 1, closed_low=False),
    "SOLVER.CHECKPOINT_PERIOD": _at_least(1),
    "SOLVER.MAX_TO_KEEP": _at_least(1),
    "SOLVER.LOG_PERIOD": _at_least(1),
    "SOLVER.CLIP_GRADIENTS.CLIP_VALUE": _POSITIVE,
    "SOLVER.STEPS": _at_least(1),
    "TEST.EVAL_PERIOD": _at_least(0),
    "DATALOADER.NUM_WORKERS": _at_least(0),
    "INPUT.MIN_SIZE_TRAIN": _at_least(1),
    "INPUT.MAX_SIZE_TRAIN": _at_least(1),
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE": _at_least(1),
    "MODEL.RPN.POSITIVE_FRACTION": _in(0, 1, closed_low=False),
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN": _at_least(1),
    "MODEL.RPN.POST_NMS_TOPK_TRAIN": _at_least(1),
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": _at_least(1),
    "MODEL.ROI_HEADS.POSITIVE_FRACTION": _in(0, 1, closed_low=False),
    "MODEL.ROI_DENSEPOSE_HEAD.MAX_ROIS_PER_IMAGE": _at_least(0),
}


def _value(cfg: CfgNode, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def validate_cfg(cfg: CfgNode, training: bool = False, workers: int = 1) -> None:
    """The config's numbers checked before any work: a ValueError naming the first key out of range.

    Test-time numbers always (``TEST_RULES``); with ``training`` the schedule, batch sizes and periods too
    (``TRAIN_RULES``), SOLVER.STEPS increasing, and SOLVER.IMS_PER_BATCH a multiple of ``workers``.
    """
    for key, bound in {**TEST_RULES, **(TRAIN_RULES if training else {})}.items():
        value = _value(cfg, key)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{key} {v!r}: not a number")
            if not bound.holds(v):
                raise ValueError(f"{key} {v}: {bound.rule()}")
    if training:
        steps = list(cfg.SOLVER.STEPS)
        if steps != sorted(set(steps)):
            raise ValueError(f"SOLVER.STEPS {steps}: must be increasing iteration numbers")
        if cfg.SOLVER.IMS_PER_BATCH % workers:
            raise ValueError(f"SOLVER.IMS_PER_BATCH {cfg.SOLVER.IMS_PER_BATCH}: must be a multiple of the "
                             f"{workers} workers (--num-gpus)")  # fmt: skip
