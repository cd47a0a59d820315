"""Official-protocol DensePose evaluation: GPS and GPSm AP/AR, plus keypoint AP.

The protocol is described in docs/densepose_format.md ("Evaluation protocol").

``evaluate_densepose(gt, results, eval_data_dir)`` loads the ground truth with pycocotools, checks every
detection, computes per image the GPS, mask-IoU and box-IoU matrices once, and runs the matching of
``matching.py`` in GPS and GPSm mode.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ktn_model.data.coco_json import (
    EVAL_ANNOTATION_FIELDS,
    EVAL_DP_FIELDS,
    NUM_KEYPOINT_VALUES,
    load_coco,
    read_json,
)
from ktn_model.data.iuv import iuv_size
from ktn_model.data.meta import DP_POINT_KEYS
from ktn_model.evaluation.eval_data import EvalData, load_eval_data
from ktn_model.evaluation.gps import GpsScorer, GtPoints, gt_points
from ktn_model.evaluation.masks import PastedMask, gt_mask, mask_iou, paste
from ktn_model.evaluation.matching import MAX_DETS, METRIC_NAMES, ImagePairs, evaluate_pairs
from ktn_model.evaluation.results import PERSON_CATEGORY, decode_iuv

# Ignore-region rules (docs/densepose_format.md, "Ignore GTs, crowds and ignore regions"): a GT is dropped at
# this covered fraction, a DT at this mask IoU.
REGION_GT_COVER = 0.7
REGION_DT_IOU = 0.9
MATCH_HINT = " (run `ktn infer --annotations GT_JSON` so that results.json uses the ground truth's image ids)"


@dataclass
class Detection:
    """One checked result: ``index`` in the results list, ``bbox`` XYWH (4,), the encoded IUV."""

    index: int
    image_id: int
    bbox: np.ndarray
    score: float
    shape: tuple[int, int, int]
    png: str

    def where(self) -> str:
        return f"detection {self.index} (image id {self.image_id})"

    def decode(self) -> np.ndarray:
        """The (3, H, W) uint8 IUV, checked against its declared shape (decoded anew on each call)."""
        try:
            iuv = decode_iuv(self.png)
        except ValueError as e:
            raise ValueError(f"{self.where()}: densepose {e}") from None
        if iuv.shape != self.shape:
            raise ValueError(f"{self.where()}: decoded IUV has shape {iuv.shape}, declared {self.shape}")
        return iuv


def _number_list(value, length: int, what: str, where: str) -> np.ndarray:
    """A list of ``length`` finite numbers as float64, else a ValueError naming ``where``."""
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.size != length or not np.all(np.isfinite(arr)):
        count = "a finite number" if length == 1 else f"{length} finite numbers"
        raise ValueError(f"{where}: '{what}' must be {count}, got {str(value)[:80]}")
    return arr


def _densepose_field(value, where: str) -> tuple[tuple[int, ...], str]:
    """(shape, base64) from ``[[3,h,w], str]`` or the official form ``[[[3,h,w], str], [x,y,w,h]]``.

    See docs/densepose_format.md, "Official result dicts".
    """
    pair = value[0] if isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple) else None
    if pair is not None and len(pair) == 2 and isinstance(pair[1], str):
        value = pair
    if not (isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], str)):
        raise ValueError(f"{where}: 'densepose' must be [[3, h, w], base64 PNG] (optionally with the box)")
    return tuple(int(s) for s in _number_list(value[0], 3, "densepose shape", where)), value[1]


def parse_detection(index: int, det: dict, file_names: dict[int, str]) -> Detection | None:
    """Check one result dict; None for a category other than person (not evaluated).

    ``file_names``: GT image id -> file name (without folders). A detection whose image id is not in
    the ground truth, or whose ``file_name`` (written by ``ktn infer``) is not that image's, is an error.
    """
    if not isinstance(det, dict):
        raise ValueError(f"detection {index}: expected a JSON object, got {type(det).__name__}")
    image_id = det.get("image_id")
    where = f"detection {index} (image id {image_id})"
    if not isinstance(image_id, int) or isinstance(image_id, bool) or image_id not in file_names:
        raise ValueError(f"{where}: image id not in the ground truth{MATCH_HINT}")
    if "file_name" in det and Path(str(det["file_name"])).name != file_names[image_id]:
        raise ValueError(f"{where}: file_name {det['file_name']!r} is not the ground truth's "
                         f"{file_names[image_id]!r} for that id{MATCH_HINT}")  # fmt: skip
    if det.get("category_id") != PERSON_CATEGORY:
        if "category_id" not in det:
            raise ValueError(f"{where}: missing 'category_id'")
        return None
    bbox = _number_list(det.get("bbox"), 4, "bbox", where)
    score = float(_number_list(det.get("score"), 1, "score", where)[0])
    if "densepose" not in det:
        raise ValueError(f"{where}: missing 'densepose'")
    shape, png = _densepose_field(det["densepose"], where)
    expected = (3, *iuv_size(bbox[2], bbox[3]))
    if shape != expected:
        raise ValueError(
            f"{where}: IUV shape {list(shape)} does not fit bbox {bbox.tolist()} (expected {list(expected)})"
        )
    return Detection(index, int(image_id), bbox, score, shape, png)


def load_gt(gt: str | Path | COCO) -> COCO:
    """A pycocotools COCO from a DensePose-COCO json path (checked, quietly) or an existing COCO.

    A file without an annotation carrying DensePose points is refused: every metric would be -100.
    """
    if isinstance(gt, COCO):
        return gt
    return load_coco(gt, EVAL_ANNOTATION_FIELDS, EVAL_DP_FIELDS, need_densepose=True)


def load_results(results: str | Path | list) -> list:
    """The result list, from a JSON path or as given."""
    if isinstance(results, str | Path):
        path = Path(results)
        results = read_json(path)
        if not isinstance(results, list):
            raise ValueError(f"{path}: results must be a JSON list of detections")
    return results


@dataclass
class GtPerson:
    """One GT person of the evaluated category; ``dp`` (the point arrays) is None for an ignore GT."""

    ann: dict
    bbox: np.ndarray
    dp: dict[str, np.ndarray] | None
    points: GtPoints | None = None
    _mask: PastedMask | None = field(default=None, repr=False)

    @property
    def ignore(self) -> bool:
        return self.dp is None

    @property
    def crowd(self) -> bool:
        return bool(self.ann.get("iscrowd", 0))

    def mask(self, image_hw: tuple[int, int], full_mask) -> PastedMask:
        """The person's full-image mask (GPSm), built on first use."""
        if self._mask is None:
            self._mask = gt_mask(self.ann, image_hw, full_mask)
        return self._mask


def _gt_person(ann: dict) -> GtPerson:
    """Check one GT annotation; 'ignore' means no ``dp_x``."""
    where = f"annotation {ann.get('id')} (image id {ann.get('image_id')})"
    if not isinstance(ann.get("id"), int) or ann["id"] < 1:
        raise ValueError(f"{where}: annotation ids must be integers >= 1")
    bbox = _number_list(ann.get("bbox"), 4, "bbox", where)
    if "dp_x" not in ann:
        return GtPerson(ann, bbox, None)
    dp = {k: np.asarray(ann.get(k, []), dtype=np.float64).reshape(-1) for k in DP_POINT_KEYS}
    if len({len(v) for v in dp.values()}) != 1:
        raise ValueError(f"{where}: dp_x, dp_y, dp_I, dp_U, dp_V must have equal lengths")
    return GtPerson(ann, bbox, dp)


def _interleave(xs: list, ys: list) -> list[float]:
    return [c for xy in zip(xs, ys, strict=True) for c in xy]


def _region_keeps(region: np.ndarray, bbox: np.ndarray, foreground: np.ndarray | None) -> bool:
    """The ignore-region test for a GT (``foreground`` None) or a detection.

    As in the reference, the int box crops the region with plain slicing (a negative corner
    wraps), and a detection's foreground is compared with the crop by pycocotools' crowd IoU.
    """
    x, y, w, h = (int(c) for c in bbox)
    if w * h == 0:
        return False
    crop = region[y : min(y + h, region.shape[0]), x : min(x + w, region.shape[1])]
    if not crop.any():
        return True
    if foreground is None:
        return crop.sum() / w / h < REGION_GT_COVER
    encoded = [mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) for m in (foreground, crop)]
    return float(mask_utils.iou(encoded[:1], encoded[1:], [1])[0][0]) < REGION_DT_IOU


def _apply_ignore_regions(image: dict, gts: list[dict], dts: list[Detection]) -> tuple[list, list]:
    """Drop GTs and DTs covered by the image's ignore regions; no regions: unchanged."""
    xs, ys = image.get("ignore_regions_x"), image.get("ignore_regions_y")
    if not (xs and ys and gts):
        return gts, dts
    height, width = image["height"], image["width"]
    polygons = [_interleave(px, py) for px, py in zip(xs, ys, strict=True)]
    region = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width)))
    gts = [g for g in gts if _region_keeps(region, np.asarray(g["bbox"], dtype=float), None)]
    dts = [d for d in dts if _region_keeps(region, d.bbox, d.decode()[0] > 0)]
    return gts, dts


class DensePoseEvaluator:
    """Builds the per-image GPS / GPSm / box-IoU matrices for one GT and result set."""

    def __init__(self, coco: COCO, detections: list[Detection], eval_data: EvalData):
        self.coco = coco
        self.eval_data = eval_data
        self.scorer = GpsScorer(eval_data)
        self.by_image: dict[int, list[Detection]] = {}
        for det in detections:
            self.by_image.setdefault(det.image_id, []).append(det)

    def image_pairs(self) -> tuple[list[ImagePairs], list[ImagePairs]]:
        """(GPS-mode, GPSm-mode) pairs of every GT image, in sorted image-id order."""
        gps_mode, gpsm_mode = [], []
        for image_id in sorted(self.coco.getImgIds()):
            gps, gpsm = self._image(image_id)
            gps_mode.append(gps)
            gpsm_mode.append(gpsm)
        return gps_mode, gpsm_mode

    def _image(self, image_id: int) -> tuple[ImagePairs, ImagePairs]:
        image = self.coco.imgs[image_id]
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id], catIds=[PERSON_CATEGORY]))
        anns, dts = _apply_ignore_regions(image, anns, self.by_image.get(image_id, []))
        order = np.argsort([-d.score for d in dts], kind="mergesort")[:MAX_DETS]
        dts = [dts[i] for i in order]
        gts = [_gt_person(a) for a in anns]
        scored = [g for g in gts if not g.ignore]
        for person, points in zip(scored, gt_points(self.eval_data, [(g.bbox, g.dp) for g in scored]), strict=True):
            person.points = points
        boxes = np.array([d.bbox for d in dts]).reshape(-1, 4)
        decoded: dict[int, np.ndarray] = {}  # this image's IUVs, decoded at most once

        def iuv_of(d: int) -> np.ndarray:
            if d not in decoded:
                decoded[d] = dts[d].decode()
            return decoded[d]

        gps = self.scorer.matrix([g.points for g in gts], boxes, iuv_of)
        gpsm = self._gpsm(gps, gts, boxes, iuv_of, (image["height"], image["width"]))
        crowd = np.array([g.crowd for g in gts], dtype=bool)
        box_iou = np.zeros(gps.shape)
        if gps.size:
            box_iou = np.asarray(mask_utils.iou(boxes.tolist(), [g.bbox.tolist() for g in gts], crowd.tolist()))
        common = dict(
            box_iou=box_iou,
            gt_ignore=np.array([g.ignore for g in gts], dtype=bool),
            gt_crowd=crowd,
            gt_area=np.array([float(g.ann.get("area", 0.0)) for g in gts]),
            scores=np.array([d.score for d in dts]),
            dt_area=boxes[:, 2] * boxes[:, 3],
        )
        return ImagePairs(similarity=gps, **common), ImagePairs(similarity=gpsm, **common)

    def _gpsm(
        self, gps: np.ndarray, gts: list[GtPerson], boxes: np.ndarray, iuv_of: Callable[[int], np.ndarray], image_hw
    ) -> np.ndarray:
        """sqrt(GPS · mask IoU); the IoU is only needed where GPS > 0."""
        gpsm = np.zeros(gps.shape)
        dt_masks: dict[int, PastedMask] = {}
        for d, g in zip(*np.nonzero(gps > 0), strict=True):
            if d not in dt_masks:
                dt_masks[d] = paste(iuv_of(d)[0] > 0, boxes[d], image_hw)
            iou = mask_iou(dt_masks[d], gts[g].mask(image_hw, self.coco.annToMask), gts[g].crowd)
            gpsm[d, g] = math.sqrt(gps[d, g] * iou)
        return gpsm


def keypoint_metrics(coco: COCO, results: list[dict]) -> dict[str, float]:
    """COCO keypoint AP/AR (pycocotools COCOeval, iouType 'keypoints'), ×100."""
    for ann in coco.dataset.get("annotations", []):
        if "num_keypoints" not in ann or "keypoints" not in ann:
            raise ValueError(f"annotation {ann.get('id')}: keypoint AP needs 'keypoints' and 'num_keypoints'")
    dets = [{k: r[k] for k in ("image_id", "category_id", "bbox", "score", "keypoints")} for r in results]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval = COCOeval(coco, coco.loadRes(dets), iouType="keypoints")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return {name: 100.0 * float(v) for name, v in zip(METRIC_NAMES, coco_eval.stats, strict=True)}


def _check_keypoints(results: list, parsed: list[Detection | None]) -> bool:
    """True when the person results carry keypoints; then each must have 51 numbers."""
    persons = [(i, r) for i, (r, det) in enumerate(zip(results, parsed, strict=True)) if det]
    if not any("keypoints" in r for _, r in persons):
        return False
    for i, r in persons:
        _number_list(r.get("keypoints"), NUM_KEYPOINT_VALUES, "keypoints", f"detection {i} (image id {r['image_id']})")
    return True


def evaluate_densepose(
    gt: str | Path | COCO, results: str | Path | list, eval_data_dir: str | Path | EvalData
) -> dict[str, dict[str, float]]:
    """GPS and GPSm AP/AR ×100 under ``densepose_gps`` and ``densepose_gpsm``.

    ``gt``: DensePose-COCO json path or COCO; ``results``: list of official result dicts or a json
    path; ``eval_data_dir``: directory of the three evaluation files (or a loaded ``EvalData``). When
    the results carry ``keypoints``, a ``keypoints`` section holds COCO keypoint AP/AR. Malformed
    detections raise ValueError naming the detection; empty results score 0.
    """
    coco = load_gt(gt)
    results = load_results(results)
    file_names = {image_id: Path(image["file_name"]).name for image_id, image in coco.imgs.items()}
    parsed = [parse_detection(i, det, file_names) for i, det in enumerate(results)]
    with_keypoints = _check_keypoints(results, parsed)
    eval_data = eval_data_dir if isinstance(eval_data_dir, EvalData) else load_eval_data(eval_data_dir)
    gps_pairs, gpsm_pairs = DensePoseEvaluator(coco, [d for d in parsed if d], eval_data).image_pairs()
    metrics = {"densepose_gps": evaluate_pairs(gps_pairs), "densepose_gpsm": evaluate_pairs(gpsm_pairs)}
    if with_keypoints:
        metrics["keypoints"] = keypoint_metrics(coco, [r for r, det in zip(results, parsed, strict=True) if det])
    return metrics
