"""Seconds per image of one confidence and one CSE zoo preset on CPU (docs/confidence.md, docs/cse.md).

Each preset runs with its golden fixture's weights (tests/data/golden: R_50_FPN_WC2M_s1x, R_50_FPN_soft_s1x_cse,
regenerated from the manifests and loaded through ``--weights``) on ``astronaut.png`` (800×800, 85 detections),
the whole ``Predictor`` (post-processing included: the confidences at box size, the closest vertices). Every
(preset, threads) pair runs in a fresh process: one warm-up image, then the fastest of ``--rounds``; peak memory is
that process's peak RSS. The CPU is named; no ratio to a time measured elsewhere.

    .venv/bin/python benchmarks/zoo_variants_speed.py --rounds 2
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
CASES = {"densepose_rcnn_R_50_FPN_WC2M_s1x": "R_50_FPN_WC2M_s1x",
         "cse/densepose_rcnn_R_50_FPN_soft_s1x": "R_50_FPN_soft_s1x_cse"}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def time_preset(preset: str, fixture: str, threads: int, rounds: int) -> tuple[float, int, float]:
    """(fastest seconds per image, detections, peak RSS in MiB) in this process."""
    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(ROOT / "tests"))
    from golden import GOLDEN, make_weights, write_detectron2_pkl

    from ktn_model.engine.predictor import Predictor
    from ktn_model.resources import resolve_config

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_detectron2_pkl(make_weights(fixture), Path(tmp) / f"{fixture}.pkl")
        predictor = Predictor.from_checkpoint(weights, resolve_config(f"detectron2/{preset}"), ["MODEL.DEVICE", "cpu"])
    image = np.asarray(Image.open(GOLDEN / "astronaut.png").convert("RGB"))
    out = predictor(image)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = predictor(image)
        times.append(time.perf_counter() - start)
    return min(times), len(out["boxes"]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(rounds: int = typer.Option(2, help="Timed images per (preset, threads), after one warm-up.")) -> None:
    """Print seconds per image, detections and peak RSS for each preset at 1 and 2 threads."""
    print(f"CPU: {cpu_name()}; astronaut.png (800×800), golden weights; load average {os.getloadavg()[0]:.1f}")
    spawn = multiprocessing.get_context("spawn")
    for preset, fixture in CASES.items():
        for threads in (1, 2):
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                seconds, count, rss = pool.submit(time_preset, preset, fixture, threads, rounds).result()
            print(f"{preset}: {threads} thread(s) {seconds:.2f} s/image, {count} detections, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    typer.run(main)
