"""Point-wise analysis of the matched detections: the KTNv2 paper's Table XI per part (average recall, U and V
mean squared error, UV geodesic distance) and the Fig. 9 confusion matrix of patch labels.

Definitions (docs/densepose_format.md, "Per-part analysis"):

- **Matched pairs**: the official GPS matching (steps 1-2 of "Matching": ignore regions, the 20 highest-scoring
  detections per image, score order, best free GT) at threshold 0.5 in the "all" area range, i.e. the true
  positives of GPS AP50. A GT that takes part (not ignored: it has ``dp_x``) and has points with a surface vertex
  is *counted*; its points are those of the GPS sum.
- **AR of a part** (a set of patches): over the counted GTs with at least one point on the part, the share whose
  pair is matched and whose part-restricted GPS (the GPS terms of its points on the part, summed and divided by
  their number) reaches t, averaged over t = 0.50, 0.55, ..., 0.95.
- **U MSE, V MSE, UV GD**: over the points of matched pairs whose predicted patch is the annotated one, the mean of
  (U·255 / 255 − U_gt)² (likewise V) and of the geodesic distance between the annotated and the predicted surface
  vertex (metres on the evaluation mesh).
- **Confusion**: for every point of a matched pair, its annotated patch (row 1..24) against the predicted label at
  its pixel (column 0 = background, also for a point outside the box or a label above 24).

``PartAnalysis`` is an observer of ``evaluate_densepose``: it sees each image while its IUVs are decoded and keeps
per counted GT 2 × 24 numbers and per image 5 × 24, reduced in image order at the end (the same numbers whatever
the number of worker processes).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from ktn_model.data.meta import NUM_PATCHES
from ktn_model.evaluation.matching import AREA_RANGES, THRESHOLDS, match_image
from ktn_model.evaluation.parts import Part

MATCH_THRESHOLD_INDEX = 0  # the matching at GPS >= THRESHOLDS[0] = 0.5
MATCHING_RULE = (
    "official GPS matching at 0.5 in the 'all' area range (ignore regions, the 20 highest-scoring detections per "
    "image in score order, each taking the free GT with the highest GPS >= 0.5: the true positives of GPS AP50); "
    "a GT counts when it has DensePose points with a surface vertex"
)
_FIELDS = ("points", "correct", "u_sq", "v_sq", "distance")  # per patch, per image


@dataclass
class PartRow:
    """One part's numbers: ``persons`` counted GTs with points on it, ``points`` of matched pairs on it, ``correct``
    of them with the right patch; ``ar`` ×100, ``u_mse``, ``v_mse``, ``uv_gd`` (NaN without correct points)."""

    part: Part
    persons: int
    points: int
    correct: int
    accuracy: float
    ar: float
    u_mse: float
    v_mse: float
    uv_gd: float


class PartAnalysis:
    """Collects the point readings of matched pairs, image by image (see the module docstring)."""

    def __init__(self) -> None:
        self.person_points = array("q")  # per counted GT, 24 point counts
        self.person_sims = array("d")  # per counted GT, 24 sums of GPS terms (0 when unmatched)
        self.image_sums = array("d")  # per image, _FIELDS × 24
        self.confusion = np.zeros((NUM_PATCHES, NUM_PATCHES + 1), dtype=np.int64)

    def image(self, result) -> None:
        """``result``: a ``densepose_eval.ImageResult``."""
        matches = match_image(result.gps, AREA_RANGES["all"])
        owner = {}
        if matches is not None:
            owner = {int(g): d for d, g in enumerate(matches.dt_gt[MATCH_THRESHOLD_INDEX]) if g >= 0}
        sums = np.zeros((len(_FIELDS), NUM_PATCHES))
        for g, person in enumerate(result.gts):
            if person.points is None or not len(person.points.x):
                continue
            points = person.points
            patch = points.part - 1
            self.person_points.extend(np.bincount(patch, minlength=NUM_PATCHES).tolist())
            if g not in owner:
                self.person_sims.extend([0.0] * NUM_PATCHES)
                continue
            d = owner[g]
            read = result.scorer.readings(points, result.dts[d].bbox, result.iuv_of(d))
            self.person_sims.extend(np.bincount(patch, weights=read.similarity, minlength=NUM_PATCHES).tolist())
            label = np.where(read.label <= NUM_PATCHES, read.label, 0)
            np.add.at(self.confusion, (patch, label), 1)
            right = label == points.part
            values = ((read.u8 / 255.0 - points.u) ** 2, (read.v8 / 255.0 - points.v) ** 2, read.distance)
            sums[0] += np.bincount(patch, minlength=NUM_PATCHES)
            sums[1] += np.bincount(patch[right], minlength=NUM_PATCHES)
            for row, value in enumerate(values, start=2):
                sums[row] += np.bincount(patch[right], weights=value[right], minlength=NUM_PATCHES)
        self.image_sums.extend(sums.ravel().tolist())

    def extend(self, other: PartAnalysis) -> None:
        """Append the images ``other`` saw (they come after this one's, in image order)."""
        self.person_points.extend(other.person_points)
        self.person_sims.extend(other.person_sims)
        self.image_sums.extend(other.image_sums)
        self.confusion += other.confusion

    def rows(self, parts: list[Part]) -> list[PartRow]:
        """The table rows of ``parts``."""
        counts = np.frombuffer(self.person_points, dtype=np.int64).reshape(-1, NUM_PATCHES)
        sims = np.frombuffer(self.person_sims, dtype=np.float64).reshape(-1, NUM_PATCHES)
        sums = np.frombuffer(self.image_sums, dtype=np.float64).reshape(-1, len(_FIELDS), NUM_PATCHES).sum(axis=0)
        return [self._row(part, counts, sims, sums) for part in parts]

    @staticmethod
    def _row(part: Part, counts: np.ndarray, sims: np.ndarray, sums: np.ndarray) -> PartRow:
        cols = np.array(part.patches) - 1
        n = counts[:, cols].sum(axis=1)
        has = n > 0
        gps = sims[has][:, cols].sum(axis=1) / n[has]
        ar = 100.0 * float(np.mean([(gps >= t).mean() for t in THRESHOLDS])) if has.any() else float("nan")
        points, correct, u_sq, v_sq, dist = (float(sums[f, cols].sum()) for f in range(len(_FIELDS)))
        mean = (lambda total: total / correct) if correct else (lambda total: float("nan"))
        return PartRow(part, int(has.sum()), int(points), int(correct), correct / points if points else float("nan"),
                       ar, mean(u_sq), mean(v_sq), mean(dist))  # fmt: skip
