"""Evaluation glue: run the model over a test loader, encode results, score them (official protocol)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from ktn_model.data.loader import build_test_loader
from ktn_model.engine.outputs import coco_results
from ktn_model.engine.predictor import Predictor
from ktn_model.evaluation import evaluate_densepose
from ktn_model.evaluation.matching import METRIC_NAMES
from ktn_utils.atomic import atomic_write

REDIRECTED_WIDTH = 160
SECTIONS = {"densepose_gps": "GPS", "densepose_gpsm": "GPSm", "keypoints": "keypoints"}


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
    return evaluate_densepose(loader.dataset.spec.json_file, results, cfg.TEST.EVAL_DATA_DIR)


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


def metrics_table(metrics: dict[str, dict[str, float]], title: str = "DensePose evaluation") -> Table:
    """A rich table: one row per section (GPS, GPSm, keypoints), the AP/AR columns ×100."""
    table = Table(title=title)
    table.add_column("metric")
    for column in METRIC_NAMES:
        table.add_column(column, justify="right")
    for section, values in metrics.items():
        label = SECTIONS.get(section.rsplit("/", 1)[-1], section)
        prefix = section.rsplit("/", 1)[0] + " " if "/" in section else ""
        table.add_row(prefix + label, *(f"{values[c]:.2f}" if c in values else "-" for c in METRIC_NAMES))
    return table


def report_console() -> Console:
    """stdout, not wrapped at 80 columns when redirected to a file or pipe."""
    return Console(width=None if sys.stdout.isatty() else REDIRECTED_WIDTH, soft_wrap=True)


def print_metrics(metrics: dict[str, dict[str, float]], title: str = "DensePose evaluation") -> None:
    report_console().print(metrics_table(metrics, title))
