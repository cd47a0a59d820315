"""Evaluation glue: run the model over a test loader, encode results, score them (official protocol)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from ktn_model.data.loader import build_test_loader
from ktn_model.evaluation import evaluate_densepose
from ktn_model.evaluation.report import metrics_table, print_metrics, report_console  # noqa: F401  (used by runner, demo)
from ktn_model.inference.image_outputs import coco_results
from ktn_model.inference.pipeline import Predictor
from ktn_utils.atomic import atomic_write


@torch.no_grad()
def inference_on_loader(cfg, model: nn.Module, loader) -> list[dict]:
    """Official result dicts for every image of ``loader`` ((images, targets) batches), through the same
    ``Predictor`` (resize, network, post-processing) as ``ktn infer``."""
    predictor = Predictor(cfg, model)
    results: list[dict] = []
    for images, targets in loader:
        for image, target in zip(images, targets, strict=True):
            pixels = image.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # exact: loaded as uint8 / 255
            results.extend(coco_results(int(target["image_id"]), predictor(pixels)))
    return results


def evaluate_dataset(cfg, model: nn.Module, dataset: str) -> dict[str, dict[str, float]]:
    """GPS / GPSm (and keypoint) metrics of ``model`` on one test set; results saved under OUTPUT_DIR/inference."""
    loader = build_test_loader(cfg, dataset)
    was_training = model.training
    model.eval()
    try:
        results = inference_on_loader(cfg, model, loader)
    finally:
        model.train(was_training)
    path = Path(cfg.OUTPUT_DIR) / "inference" / f"{_safe_name(dataset)}_results.json"
    atomic_write(path, lambda f: f.write(json.dumps(results).encode()))
    # One process: this one holds torch's threads (and maybe CUDA), which a forked worker must not inherit.
    return evaluate_densepose(loader.dataset.spec.json_file, results, cfg.TEST.EVAL_DATA_DIR, workers=1)


def evaluate_model(cfg, model: nn.Module) -> dict[str, dict[str, float]]:
    """Metrics on every DATASETS.TEST set; sections are prefixed with the set name when there are several."""
    datasets = list(cfg.DATASETS.TEST)
    if len(datasets) == 1:
        return evaluate_dataset(cfg, model, datasets[0])
    return {f"{_safe_name(d)}/{section}": values for d in datasets for section, values in
            evaluate_dataset(cfg, model, d).items()}


def _safe_name(dataset: str) -> str:
    """A file-name-safe label for a dataset spec (a registered name, or ``ANN_JSON:IMAGE_DIR``)."""
    stem = Path(dataset.split(":")[0]).stem if ":" in dataset else dataset
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
