"""Several result files against one ground truth, side by side: what ``ktn evaluate --compare`` computes.

``evaluate_runs`` reads the ground truth once, checks every result file first (its image ids and file names are
the ground truth's, and all files cover the same images), then scores them one after the other with the
official protocol and, on request, the per-part analysis (``part_analysis.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ktn_model.evaluation.densepose_eval import score
from ktn_model.evaluation.detections import ResultIndex
from ktn_model.evaluation.eval_data import EvalData, as_eval_data
from ktn_model.evaluation.ground_truth import GroundTruth
from ktn_model.evaluation.part_analysis import PartAnalysis


@dataclass
class ModelRun:
    """One result file's ``label``, official ``metrics`` and, with the analysis, its ``analysis``."""

    label: str
    path: Path
    metrics: dict[str, dict[str, float]]
    analysis: PartAnalysis | None = None


def run_labels(paths: list[Path]) -> list[str]:
    """Short distinct names: the file stems, with as many parent folders as it takes to tell them apart."""
    paths = [Path(p) for p in paths]
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        labels = ["/".join(p.with_suffix("").parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in paths]


def file_label(label: str) -> str:
    """A label usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "results"


def check_same_images(indexes: list[ResultIndex], paths: list[Path]) -> None:
    """A ValueError when two result files have detections on different images (an empty file is exempt)."""
    base = next(((i, p) for i, p in zip(indexes, paths, strict=True) if i.image_ids), None)
    if base is None:
        return
    for index, path in zip(indexes, paths, strict=True):
        if not index.image_ids or index.image_ids == base[0].image_ids:
            continue
        only = sorted(index.image_ids ^ base[0].image_ids)
        raise ValueError(f"{path}: detections on {len(index.image_ids)} images, {base[1]} on "
                         f"{len(base[0].image_ids)}; {len(only)} images are in only one of them (e.g. image id "
                         f"{only[0]}): --compare needs result files for the same images")  # fmt: skip


def evaluate_runs(gt: str | Path, results: list[str | Path], eval_data_dir: str | Path | EvalData,
                  analysis: bool = False, workers: int | None = None) -> list[ModelRun]:  # fmt: skip
    """Official metrics (and, with ``analysis``, the per-part analysis) of every file of ``results``."""
    paths = [Path(p) for p in results]
    with GroundTruth.load(gt) as truth:
        indexes = []
        try:
            for path in paths:
                indexes.append(ResultIndex.load(path, truth.file_names))
            check_same_images(indexes, paths)
            eval_data = as_eval_data(eval_data_dir)
            runs = []
            for label, path, index in zip(run_labels(paths), paths, indexes, strict=True):
                observers = [PartAnalysis()] if analysis else []
                metrics = score(truth, index, eval_data, observers, workers)
                runs.append(ModelRun(label, path, metrics, observers[0] if observers else None))
            return runs
        finally:
            for index in indexes:
                index.close()
