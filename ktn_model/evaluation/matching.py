"""Per-image matching, accumulation and summary of DensePose AP/AR.

The steps are those of docs/densepose_format.md, "Matching" and "Accumulation and metrics".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 20
AREA_RANGES = {"all": (0.0, 1e10), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
BOX_FALLBACK_IOU = 0.8
METRIC_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@dataclass
class ImageMatches:
    """One image in one area range: ``scores`` (D,), ``dt_matched``/``dt_ignore`` (T, D), ``gt_ignore`` (G,)."""

    scores: np.ndarray
    dt_matched: np.ndarray
    dt_ignore: np.ndarray
    gt_ignore: np.ndarray


@dataclass
class ImagePairs:
    """What matching needs about one image; detections score-sorted and capped at ``MAX_DETS``.

    ``similarity``, ``box_iou``: (D, G); ``gt_ignore``, ``gt_crowd``, ``gt_area``: (G,);
    ``scores``, ``dt_area``: (D,).
    """

    similarity: np.ndarray
    box_iou: np.ndarray
    gt_ignore: np.ndarray
    gt_crowd: np.ndarray
    gt_area: np.ndarray
    scores: np.ndarray
    dt_area: np.ndarray


def _greedy_match(sim: np.ndarray, ignore: list, crowd: list, gt_hit: np.ndarray, dt_hit, dt_ignore) -> None:
    """Matching step 2: per threshold, detections in score order take the best free GT ≥ t."""
    best_possible = sim.max(axis=1)
    rows = sim.tolist()
    for t, thr in enumerate(THRESHOLDS):
        floor = min(thr, 1 - 1e-10)
        taken = gt_hit[t]
        for d in np.flatnonzero(best_possible >= floor):
            best, m = floor, -1
            for g, value in enumerate(rows[d]):
                if taken[g] and not crowd[g]:
                    continue
                if m > -1 and not ignore[m] and ignore[g]:
                    break
                if value >= best:  # equal values move to the later GT
                    best, m = value, g
            if m > -1:
                dt_ignore[t, d], dt_hit[t, d], taken[m] = ignore[m], True, True


def _box_fallback(box_iou: np.ndarray, ignore: list, crowd: list, gt_hit, dt_hit, dt_ignore) -> None:
    """Matching step 3, the box fallback (reference quirk): detections unmatched at the last threshold take the
    ignore flag, at every threshold, of the free GT with the highest box IoU ≥ 0.8."""
    rows = box_iou.tolist()
    for d in np.flatnonzero(~dt_hit[-1]):
        best, m = BOX_FALLBACK_IOU, -1
        for g, value in enumerate(rows[d]):
            if gt_hit[-1, g] and not crowd[g]:
                continue
            if value >= best:
                best, m = value, g
        if m > -1:
            dt_ignore[:, d] = ignore[m]
            if ignore[m]:
                dt_hit[-1, d] = gt_hit[-1, m] = True


def match_image(pairs: ImagePairs, area_range: tuple[float, float]) -> ImageMatches | None:
    """The reference's ``evaluateImg`` for one image and area range; None when it has no GT and no DT."""
    num_dt, num_gt = pairs.similarity.shape
    if not num_dt and not num_gt:
        return None
    lo, hi = area_range
    ignore = pairs.gt_ignore | (pairs.gt_area < lo) | (pairs.gt_area > hi)
    order = np.argsort(ignore, kind="stable")
    ignore, crowd = ignore[order], pairs.gt_crowd[order]
    gt_hit = np.zeros((len(THRESHOLDS), num_gt), dtype=bool)
    dt_hit = np.zeros((len(THRESHOLDS), num_dt), dtype=bool)
    dt_ignore = np.full((len(THRESHOLDS), num_dt), bool(ignore.all()))
    if num_dt and num_gt:
        flags, crowds = ignore.tolist(), crowd.tolist()
        _greedy_match(pairs.similarity[:, order], flags, crowds, gt_hit, dt_hit, dt_ignore)
        _box_fallback(pairs.box_iou[:, order], flags, crowds, gt_hit, dt_hit, dt_ignore)
    outside = (pairs.dt_area < lo) | (pairs.dt_area > hi)
    dt_ignore |= ~dt_hit & outside[None, :]
    return ImageMatches(pairs.scores, dt_hit, dt_ignore, ignore)


def accumulate(images: list[ImageMatches | None]) -> tuple[np.ndarray, np.ndarray]:
    """Precision (T, R) and recall (T,) over all images; −1 where no GT counts."""
    num_t = len(THRESHOLDS)
    images = [m for m in images if m is not None]
    gt_ignore = np.concatenate([m.gt_ignore for m in images]) if images else np.zeros(0, dtype=bool)
    num_gt = int(np.count_nonzero(~gt_ignore))
    if not num_gt:
        return -np.ones((num_t, len(RECALL_THRESHOLDS))), -np.ones(num_t)
    order = np.argsort(-np.concatenate([m.scores for m in images]), kind="mergesort")
    hit = np.concatenate([m.dt_matched for m in images], axis=1)[:, order]
    counted = ~np.concatenate([m.dt_ignore for m in images], axis=1)[:, order]
    tp = np.cumsum(hit & counted, axis=1).astype(float)
    fp = np.cumsum(~hit & counted, axis=1).astype(float)
    num_dt = tp.shape[1]
    if not num_dt:
        return np.zeros((num_t, len(RECALL_THRESHOLDS))), np.zeros(num_t)
    recall = tp / num_gt
    precision = np.maximum.accumulate((tp / (fp + tp + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    sampled = np.zeros((num_t, len(RECALL_THRESHOLDS)))
    for t in range(num_t):
        idx = np.searchsorted(recall[t], RECALL_THRESHOLDS, side="left")
        hit_idx = idx < num_dt
        sampled[t, hit_idx] = precision[t, idx[hit_idx]]
    return sampled, recall[:, -1]


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def summarize(per_area: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """The reference's ``_summarizeUvs``: the 10 metrics at maxDets 20, ×100 (−100 where undefined)."""
    t50 = np.flatnonzero(np.abs(THRESHOLDS - 0.5) < 1e-3)
    t75 = np.flatnonzero(np.abs(THRESHOLDS - 0.75) < 1e-3)
    (p_all, r_all), (p_med, r_med), (p_large, r_large) = (per_area[a] for a in AREA_RANGES)
    values = (
        _mean_valid(p_all),
        _mean_valid(p_all[t50]),
        _mean_valid(p_all[t75]),
        _mean_valid(p_med),
        _mean_valid(p_large),
        _mean_valid(r_all),
        _mean_valid(r_all[t50]),
        _mean_valid(r_all[t75]),
        _mean_valid(r_med),
        _mean_valid(r_large),
    )
    return {name: 100.0 * v for name, v in zip(METRIC_NAMES, values, strict=True)}


def evaluate_pairs(images: list[ImagePairs]) -> dict[str, float]:
    """Match every image in every area range, accumulate and summarize."""
    per_area = {name: accumulate([match_image(p, rng) for p in images]) for name, rng in AREA_RANGES.items()}
    return summarize(per_area)
