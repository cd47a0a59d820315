"""Per-image matching, accumulation and summary of DensePose AP/AR (and of keypoint AP, pycocotools' rules).

The steps are those of docs/densepose_format.md, "Matching" and "Accumulation and metrics".
"""

from __future__ import annotations

from array import array
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
    """One image in one area range: ``scores`` (D,), ``dt_matched``/``dt_ignore`` (T, D), ``gt_ignore`` (G,);
    ``dt_gt`` (T, D): the GT (index in the image's GT list) each detection took in step 2, −1 for none (the box
    fallback of step 3 takes no GT's points)."""

    scores: np.ndarray
    dt_matched: np.ndarray
    dt_ignore: np.ndarray
    gt_ignore: np.ndarray
    dt_gt: np.ndarray | None = None


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


def _greedy_match(sim: np.ndarray, ignore: list, crowd: list, gt_hit: np.ndarray, dt_hit, dt_ignore, dt_gt) -> None:
    """Matching step 2: per threshold, detections in score order take the best free GT ≥ t.

    When no detection and no GT has two candidates ≥ 0.5 (the usual case) nothing competes, and each candidate
    pair is matched at the thresholds it reaches; otherwise the greedy loop runs, once per distinct candidate set
    (a threshold with no similarity between it and the previous one repeats that one's matching).
    """
    strong = sim >= THRESHOLDS[0]
    if not strong.any():
        return
    if strong.sum(axis=0).max() <= 1 and strong.sum(axis=1).max() <= 1:
        floors = np.minimum(THRESHOLDS, 1 - 1e-10)
        for d, g in zip(*np.nonzero(strong), strict=True):
            reached = sim[d, g] >= floors
            dt_hit[reached, d] = gt_hit[reached, g] = True
            dt_ignore[reached, d], dt_gt[reached, d] = ignore[g], g
        return
    best_possible = sim.max(axis=1)
    rows = sim.tolist()
    floors = np.minimum(THRESHOLDS, 1 - 1e-10)
    run = -1
    for t, floor in enumerate(floors.tolist()):
        if run >= 0 and not ((sim >= floors[run]) & (sim < floor)).any():
            # no similarity between the two floors: the same candidates, so the same matching as at ``run``
            for out in (gt_hit, dt_hit, dt_ignore, dt_gt):
                out[t] = out[run]
            continue
        run = t
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
                dt_ignore[t, d], dt_hit[t, d], taken[m], dt_gt[t, d] = ignore[m], True, True, m


def _box_fallback(box_iou: np.ndarray, ignore: list, crowd: list, gt_hit, dt_hit, dt_ignore) -> None:
    """Matching step 3, the box fallback (reference quirk): detections unmatched at the last threshold take the
    ignore flag, at every threshold, of the free GT with the highest box IoU ≥ 0.8."""
    rows = box_iou.tolist()
    for d in np.flatnonzero(~dt_hit[-1] & (box_iou >= BOX_FALLBACK_IOU).any(axis=1)):  # others find no GT
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


def match_image(pairs: ImagePairs, area_range: tuple[float, float], densepose: bool = True) -> ImageMatches | None:
    """The reference's ``evaluateImg`` for one image and area range; None when it has no GT and no DT.

    ``densepose`` False gives pycocotools' ``evaluateImg`` (keypoint AP): detections do not start ignored on an
    image without a counted GT, and there is no box fallback (step 3).
    """
    num_dt, num_gt = pairs.similarity.shape
    if not num_dt and not num_gt:
        return None
    lo, hi = area_range
    ignore = pairs.gt_ignore | (pairs.gt_area < lo) | (pairs.gt_area > hi)
    order = np.argsort(ignore, kind="stable")
    ignore, crowd = ignore[order], pairs.gt_crowd[order]
    gt_hit = np.zeros((len(THRESHOLDS), num_gt), dtype=bool)
    dt_hit = np.zeros((len(THRESHOLDS), num_dt), dtype=bool)
    dt_ignore = np.full((len(THRESHOLDS), num_dt), densepose and bool(ignore.all()))
    dt_gt = np.full((len(THRESHOLDS), num_dt), -1)
    if num_dt and num_gt:
        flags, crowds = ignore.tolist(), crowd.tolist()
        _greedy_match(pairs.similarity[:, order], flags, crowds, gt_hit, dt_hit, dt_ignore, dt_gt)
        if densepose:
            _box_fallback(pairs.box_iou[:, order], flags, crowds, gt_hit, dt_hit, dt_ignore)
    outside = (pairs.dt_area < lo) | (pairs.dt_area > hi)
    dt_ignore |= ~dt_hit & outside[None, :]
    return ImageMatches(pairs.scores, dt_hit, dt_ignore, ignore, np.where(dt_gt >= 0, order[dt_gt], -1))


class Accumulator:
    """The matches of many images in one area range, kept compact (a score and 20 bits per detection)."""

    def __init__(self) -> None:
        self.scores = array("d")
        self.flags = bytearray()  # per detection: packbits of [matched (T), counted (T)]
        self.num_gt = 0
        self.images = 0

    def add(self, matches: ImageMatches | None) -> None:
        if matches is None:
            return
        self.images += 1
        self.num_gt += int(np.count_nonzero(~matches.gt_ignore))
        self.scores.frombytes(np.ascontiguousarray(matches.scores, dtype=np.float64).tobytes())
        both = np.concatenate([matches.dt_matched, ~matches.dt_ignore]).T  # (D, 2T)
        self.flags += np.packbits(both, axis=1).tobytes()

    def extend(self, other: Accumulator) -> None:
        """Append the images of ``other`` (they come after this one's)."""
        self.scores.extend(other.scores)
        self.flags += other.flags
        self.num_gt += other.num_gt
        self.images += other.images

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Precision (T, R) and recall (T,) over all images; −1 where no GT counts."""
        num_t = len(THRESHOLDS)
        if not self.num_gt:
            return -np.ones((num_t, len(RECALL_THRESHOLDS))), -np.ones(num_t)
        scores = np.frombuffer(self.scores, dtype=np.float64)
        num_dt = scores.size
        if not num_dt:
            return np.zeros((num_t, len(RECALL_THRESHOLDS))), np.zeros(num_t)
        order = np.argsort(-scores, kind="mergesort")
        packed = np.frombuffer(self.flags, dtype=np.uint8).reshape(num_dt, -1)[order]
        sampled, recall = np.zeros((num_t, len(RECALL_THRESHOLDS))), np.zeros(num_t)
        for t in range(num_t):  # one threshold at a time: a few arrays of one value per detection
            both = np.unpackbits(packed, axis=1, count=2 * num_t)[:, [t, num_t + t]].astype(bool)
            hit, counted = both[:, 0], both[:, 1]
            tp = np.cumsum(hit & counted).astype(float)
            fp = np.cumsum(~hit & counted).astype(float)
            rc = tp / self.num_gt
            precision = np.maximum.accumulate((tp / (fp + tp + np.spacing(1)))[::-1])[::-1]
            idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
            inside = idx < num_dt
            sampled[t, inside] = precision[idx[inside]]
            recall[t] = rc[-1]
        return sampled, recall


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


class ModeAccumulator:
    """One similarity (GPS, GPSm or OKS): each image matched in every area range as it comes, then summarized."""

    def __init__(self, densepose: bool = True):
        self.densepose = densepose
        self.areas = {name: Accumulator() for name in AREA_RANGES}

    def add(self, pairs: ImagePairs) -> None:
        """Match one image in every area range. A range that ignores no GT beyond those ignored anyway has the
        "all" range's steps 1-3 and differs only in step 4, so it is derived from that matching."""
        full = match_image(pairs, AREA_RANGES["all"], self.densepose)
        for name, (lo, hi) in AREA_RANGES.items():
            if name == "all" or full is None:
                self.areas[name].add(full)
            elif not (~pairs.gt_ignore & ((pairs.gt_area < lo) | (pairs.gt_area > hi))).any():
                outside = (pairs.dt_area < lo) | (pairs.dt_area > hi)
                self.areas[name].add(ImageMatches(full.scores, full.dt_matched, full.dt_ignore | (~full.dt_matched
                                                  & outside[None, :]), full.gt_ignore, full.dt_gt))  # fmt: skip
            else:
                self.areas[name].add(match_image(pairs, (lo, hi), self.densepose))

    def extend(self, other: ModeAccumulator) -> None:
        for name, acc in self.areas.items():
            acc.extend(other.areas[name])

    def summary(self) -> dict[str, float]:
        return summarize({name: acc.result() for name, acc in self.areas.items()})
