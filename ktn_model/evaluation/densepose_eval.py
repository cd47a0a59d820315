"""Official-protocol DensePose evaluation: GPS and GPSm AP/AR, plus keypoint AP.

The protocol is described in docs/densepose_format.md ("Evaluation protocol").

``evaluate_densepose(gt, results, eval_data_dir)`` streams both files once to check them and index them by
image (``ground_truth.py``, ``detections.py``), then takes the images one at a time: it reads that image's
persons and detections again, computes the GPS, mask-IoU, box-IoU and OKS matrices, matches them at once in
every area range (``matching.py``) and keeps only the compact match flags, so memory does not grow with the
size of the results (docs/densepose_format.md, "Speed and memory"). Observers (the per-part analysis) see each image's
GPS-mode matching while its IUVs are decoded.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from ktn_model.data.meta import DP_POINT_KEYS
from ktn_model.evaluation.detections import Detection, ResultIndex, number_list
from ktn_model.evaluation.eval_data import EvalData, as_eval_data
from ktn_model.evaluation.gps import GpsScorer, GtPoints, gt_points
from ktn_model.evaluation.ground_truth import GroundTruth
from ktn_model.evaluation.keypoints import keypoint_ignore, oks_matrix
from ktn_model.evaluation.masks import PastedMask, gt_mask, mask_iou, paste
from ktn_model.evaluation.matching import MAX_DETS, ImagePairs, ModeAccumulator

# Ignore-region rules (docs/densepose_format.md, "Ignore GTs, crowds and ignore regions"): a GT is dropped at
# this covered fraction, a DT at this mask IoU.
REGION_GT_COVER = 0.7
REGION_DT_IOU = 0.9
IMAGES_PER_WORKER = 100
# A similarity below 0.5 never takes part in the matching. GPSm = sqrt(GPS · IoU) <= sqrt(GPS) can reach 0.5 only
# where GPS >= 0.25: below this (a margin under 0.25) neither GPS nor the mask IoU is computed.
GPSM_NEEDS_IOU = 0.249


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
    bbox = number_list(ann.get("bbox"), 4, "bbox", where)
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


@dataclass
class ImageResult:
    """What one image gives the observers: its GT persons (after the ignore regions) and score-sorted top
    detections, the GPS-mode ``ImagePairs`` (similarity (D, G)), ``iuv_of(d)`` (decoded once per image) and
    the ``scorer`` that read them."""

    image: dict
    gts: list[GtPerson]
    dts: list[Detection]
    gps: ImagePairs
    iuv_of: Callable[[int], np.ndarray]
    scorer: GpsScorer


class Observer(Protocol):
    def image(self, result: ImageResult) -> None: ...

    def extend(self, other) -> None: ...


class DensePoseEvaluator:
    """Scores one ground truth and one result set image by image (see the module docstring)."""

    def __init__(self, truth: GroundTruth, found: ResultIndex, eval_data: EvalData,
                 observers: Iterable[Observer] = ()):  # fmt: skip
        self.truth, self.found, self.eval_data = truth, found, eval_data
        self.scorer = GpsScorer(eval_data)
        self.observers = list(observers)
        self.modes = {"densepose_gps": ModeAccumulator(), "densepose_gpsm": ModeAccumulator()}
        if found.with_keypoints:
            self.modes["keypoints"] = ModeAccumulator(densepose=False)

    def run(self, workers: int | None = None) -> dict[str, dict[str, float]]:
        """The metrics of every mode, ×100, images in sorted id order.

        ``workers`` > 1 processes (default ``default_workers``) score contiguous runs of images; their matches
        and observations are joined in image order, so the numbers do not depend on ``workers``.
        """
        image_ids = self.truth.image_ids()
        workers = default_workers(len(image_ids)) if workers is None else max(1, min(workers, len(image_ids)))
        if workers == 1:
            self.score(image_ids)
        else:
            global _FORKED
            _FORKED = (self, np.array_split(np.array(image_ids, dtype=np.int64), workers))
            try:
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for modes, observers in pool.map(_score_run, range(workers)):
                        for name, mode in modes.items():
                            self.modes[name].extend(mode)
                        for mine, theirs in zip(self.observers, observers, strict=True):
                            mine.extend(theirs)
            finally:
                _FORKED = None
        return {name: mode.summary() for name, mode in self.modes.items()}

    def score(self, image_ids) -> None:
        """Score ``image_ids`` (sorted) into ``modes`` and the observers."""
        for image_id in image_ids:
            image_id = int(image_id)
            anns = self.truth.annotations(image_id)
            dets = self.found.detections(image_id)
            gps, gpsm = self._densepose(self.truth.images[image_id], anns, dets)
            self.modes["densepose_gps"].add(gps)
            self.modes["densepose_gpsm"].add(gpsm)
            if "keypoints" in self.modes:
                self.modes["keypoints"].add(_keypoint_pairs(anns, dets))
        return {name: mode.summary() for name, mode in self.modes.items()}

    def _densepose(self, image: dict, anns: list[dict], dets: list[Detection]) -> tuple[ImagePairs, ImagePairs]:
        anns, dts = _apply_ignore_regions(image, anns, dets)
        dts = _top_detections(dts)
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

        gps = self.scorer.matrix([g.points for g in gts], boxes, iuv_of, GPSM_NEEDS_IOU)
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
        gps_pairs = ImagePairs(similarity=gps, **common)
        for observer in self.observers:
            observer.image(ImageResult(image, gts, dts, gps_pairs, iuv_of, self.scorer))
        return gps_pairs, ImagePairs(similarity=gpsm, **common)

    def _gpsm(
        self, gps: np.ndarray, gts: list[GtPerson], boxes: np.ndarray, iuv_of: Callable[[int], np.ndarray], image_hw
    ) -> np.ndarray:
        """sqrt(GPS · mask IoU) where it can reach 0.5 (``GPSM_NEEDS_IOU``), else 0 (never matched either way)."""
        gpsm = np.zeros(gps.shape)
        dt_masks: dict[int, PastedMask] = {}
        for d, g in zip(*np.nonzero(gps >= GPSM_NEEDS_IOU), strict=True):
            if d not in dt_masks:
                dt_masks[d] = paste(iuv_of(d)[0] > 0, boxes[d], image_hw)
            iou = mask_iou(dt_masks[d], gts[g].mask(image_hw, self.truth.coco.annToMask), gts[g].crowd)
            gpsm[d, g] = math.sqrt(gps[d, g] * iou)
        return gpsm


def default_workers(num_images: int) -> int:
    """One process per usable CPU, at most one per ``IMAGES_PER_WORKER`` images; 1 where fork is missing or in a
    process that has imported torch (its thread pools, and CUDA, must not be forked)."""
    if "fork" not in multiprocessing.get_all_start_methods() or "torch" in sys.modules:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, num_images // IMAGES_PER_WORKER))


_FORKED: tuple[DensePoseEvaluator, list[np.ndarray]] | None = None  # what a forked worker inherits


def _score_run(index: int) -> tuple[dict, list]:
    """In a forked worker: score run ``index`` of the inherited evaluator with fresh accumulators."""
    evaluator, runs = _FORKED
    evaluator.truth.source.reopen()
    evaluator.found.source.reopen()
    evaluator.modes = {name: ModeAccumulator(mode.densepose) for name, mode in evaluator.modes.items()}
    evaluator.observers = [type(observer)() for observer in evaluator.observers]
    evaluator.score(runs[index])
    return evaluator.modes, evaluator.observers


def _top_detections(dts: list[Detection]) -> list[Detection]:
    """The ``MAX_DETS`` highest-scoring detections, ties in results order."""
    order = np.argsort([-d.score for d in dts], kind="mergesort")[:MAX_DETS]
    return [dts[i] for i in order]


def _keypoint_pairs(anns: list[dict], dets: list[Detection]) -> ImagePairs:
    """pycocotools' keypoint evaluation of one image: every person and detection (no ignore regions)."""
    dts = _top_detections(dets)
    boxes = np.array([d.bbox for d in dts]).reshape(-1, 4)
    oks = oks_matrix(anns, np.array([d.keypoints for d in dts]).reshape(-1, 51)) if anns else np.zeros((len(dts), 0))
    return ImagePairs(
        similarity=oks,
        box_iou=np.zeros(oks.shape),
        gt_ignore=keypoint_ignore(anns),
        gt_crowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
        gt_area=np.array([float(a["area"]) for a in anns]),
        scores=np.array([d.score for d in dts]),
        dt_area=boxes[:, 2] * boxes[:, 3],
    )


def evaluate_densepose(
    gt: str | Path | COCO,
    results: str | Path | list,
    eval_data_dir: str | Path | EvalData,
    observers: Iterable[Observer] = (),
    workers: int | None = None,
) -> dict[str, dict[str, float]]:
    """GPS and GPSm AP/AR ×100 under ``densepose_gps`` and ``densepose_gpsm``.

    ``gt``: DensePose-COCO json path or COCO; ``results``: list of official result dicts or a json
    path; ``eval_data_dir``: directory of the three evaluation files (or a loaded ``EvalData``). When
    the results carry ``keypoints``, a ``keypoints`` section holds COCO keypoint AP/AR. Malformed
    detections raise ValueError naming the detection; empty results score 0. ``observers`` see every image
    (an observer has ``image(ImageResult)``, ``extend(other)`` and a constructor without arguments, for the
    worker processes); ``workers``: see ``DensePoseEvaluator.run``.
    """
    with GroundTruth.load(gt) as truth, ResultIndex.load(results, truth.file_names) as found:
        return score(truth, found, as_eval_data(eval_data_dir), observers, workers)


def score(truth: GroundTruth, found: ResultIndex, eval_data: EvalData, observers: Iterable[Observer] = (),
          workers: int | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """The metrics of checked results ``found`` against ``truth`` (see ``evaluate_densepose``)."""
    if found.with_keypoints and truth.keypoint_gap:
        raise ValueError(f"{truth.path}: {truth.keypoint_gap}")
    return DensePoseEvaluator(truth, found, eval_data, observers).run(workers)
