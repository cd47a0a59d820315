"""``ktn demo`` (``make demo``): the whole workflow on CPU with no downloads, in a few minutes.

Graph (reuse ``graphs/v2.pkl`` or build it offline) → synthetic DensePose-COCO train and val sets →
evaluate the untrained tiny KTN → train it → evaluate it again → pictures of a few val images →
a GPS/GPSm table, untrained vs trained.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ktn_model.config import setup_cfg
from ktn_model.data.synthetic import generate
from ktn_model.demo.settings import DemoSettings
from ktn_model.engine.evaluator import evaluate_model
from ktn_model.engine.runner import build_trainer
from ktn_model.inference.defaults import DEFAULT_MIN_SCORE, DEFAULT_VIS
from ktn_model.inference.inputs import collect_inputs
from ktn_model.inference.pipeline import Predictor
from ktn_model.inference.writer import InferenceRun, image_ids_from, run
from ktn_model.resources import shipped

DEMO_CONFIG = shipped("configs") / "ktn_demo_cpu.yaml"
DEFAULT_GRAPH = shipped("graphs") / "v2.pkl"
COMPARED = [("densepose_gps", "GPS"), ("densepose_gpsm", "GPSm")]
METRIC_COLUMNS = ["AP", "AP50", "AP75", "AR"]
PICTURE_LONG_SIDE = 512  # the synthetic images are small: pictures are enlarged to at least this


def make_datasets(s: DemoSettings) -> tuple[Path, Path]:
    """Synthetic train and val sets under ``out/data`` (deterministic for the seed); their folders."""
    train, val = s.out / "data" / "train", s.out / "data" / "val"
    generate(train, s.train_images, s.seed + 1, image_size=s.image_size)
    generate(val, s.val_images, s.seed + 2, image_size=s.image_size)
    return train, val


def demo_cfg(s: DemoSettings, graph: Path, train: Path, val: Path):
    """``configs/ktn_demo_cpu.yaml`` on the generated sets; the demo's options as overrides."""
    sizes = {"INPUT.MIN_SIZE_TRAIN": [s.image_size * 3 // 4, s.image_size], "INPUT.MAX_SIZE_TRAIN": s.image_size,
             "INPUT.MIN_SIZE_TEST": s.image_size * 3 // 4, "INPUT.MAX_SIZE_TEST": s.image_size}
    overrides = {
        "OUTPUT_DIR": s.out / "train", "SEED": s.seed, "SOLVER.MAX_ITER": s.iterations,
        "SOLVER.STEPS": [max(1, int(s.iterations * 0.8))],
        "MODEL.ROI_DENSEPOSE_HEAD.GRAPH": graph,
        "DATASETS.TRAIN": [f"{train}/annotations.json:{train}/images"],
        "DATASETS.TEST": [f"{val}/annotations.json:{val}/images"],
        "TEST.EVAL_DATA_DIR": val / "eval_data", "INPUT.UV_SYMMETRY_FILE": train / "UV_symmetry_transforms.mat",
        **sizes,
    }
    return setup_cfg(DEMO_CONFIG, [x for key, value in overrides.items()
                                   for x in (key, str(value) if isinstance(value, Path) else repr(value))])


@dataclass
class DemoReport:
    """Metrics of the untrained and trained model, where the pictures are, and seconds per step."""

    untrained: dict
    trained: dict
    pictures: Path
    seconds: dict[str, float]


def run_demo(s: DemoSettings, console: Console | None = None) -> DemoReport:
    """Every step of the demo; prints progress and returns the metrics and timings."""
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        return _run_steps(s, console or Console())
    finally:
        torch.set_num_threads(threads)


def _run_steps(s: DemoSettings, console: Console) -> DemoReport:
    """Graph, data, untrained evaluation, training with final evaluation, pictures (each timed)."""
    clock = _Clock()
    graph = DEFAULT_GRAPH  # shipped with the package; `ktn-kg build --graph-version v2` rebuilds it
    train, val = clock.step("data", lambda: make_datasets(s))
    console.print(f"graph {graph}; {s.train_images} train / {s.val_images} val synthetic images in {s.out / 'data'}")
    cfg = demo_cfg(s, graph, train, val)
    shutil.rmtree(cfg.OUTPUT_DIR, ignore_errors=True)
    trainer = build_trainer(cfg)  # the runner of `ktn train`: seeded model, data, evaluation on the val set
    model = trainer.model
    untrained = clock.step("eval untrained", lambda: evaluate_model(cfg, model))
    console.print(f"untrained model: GPS AP {untrained['densepose_gps']['AP']:.2f}; training {s.iterations} iterations")
    trained = clock.step("train + eval", trainer.train)
    pictures = s.out / "pictures"
    clock.step("pictures", lambda: _pictures(cfg, model, val, pictures, s.pictures))
    return DemoReport(untrained, trained, pictures, clock.seconds)


def _pictures(cfg, model, val: Path, out: Path, count: int) -> Path:
    """IUV/INDS PNGs and results.json as ``ktn infer`` writes them, with enlarged pictures and a legend."""
    paths = collect_inputs([str(val / "images")])[:count]
    job = InferenceRun(Predictor(cfg, model, DEFAULT_MIN_SCORE), out, list(DEFAULT_VIS),
                       image_ids_from(val / "annotations.json"), long_side=PICTURE_LONG_SIDE, legend=True)
    run(job, paths)
    return out


class _Clock:
    """Times named steps."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def step(self, name: str, fn):
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = time.perf_counter() - start
        return result


def comparison_table(report: DemoReport) -> Table:
    """GPS and GPSm AP/AP50/AP75/AR, untrained vs trained."""
    table = Table(title="KTN tiny on synthetic DensePose-COCO val (official GPS/GPSm protocol)")
    table.add_column("model")
    for _, label in COMPARED:
        for column in METRIC_COLUMNS:
            table.add_column(f"{label} {column}", justify="right")
    for name, metrics in (("untrained", report.untrained), ("trained", report.trained)):
        table.add_row(name, *(f"{metrics[sec][col]:.2f}" for sec, _ in COMPARED for col in METRIC_COLUMNS))
    return table
