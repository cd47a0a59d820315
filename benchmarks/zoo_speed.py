"""Seconds per image of a detectron2 model-zoo preset on CPU, with the golden fixture's weights.

The weights are the R-50 golden fixture's (tests/data/golden, regenerated from its manifest), loaded as a
detectron2 ``.pkl`` through ``--weights``; the image is ``astronaut.png`` (512×512 -> 800×800, 85 detections
with these weights). Each thread count runs in its own process: one warm-up image, then the fastest of
``--rounds`` (robust to other load); peak memory is the process's peak RSS. The first line names the CPU (model
and torch's kernel set, ``torch.backends.cpu.get_cpu_capability()``) and the load average: figures from
different CPUs are not comparable, so this prints no ratio to a time measured elsewhere (to compare with
detectron2, time it on the same machine). ``--precision bfloat16`` runs the DensePose branch under autocast
(``TEST.DENSEPOSE_PRECISION``) and prints how far its outputs are from float32's: the same detections, the
share of equal I labels, and the U/V differences.

    .venv/bin/python benchmarks/zoo_speed.py --rounds 2 [--precision bfloat16]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer
from PIL import Image

from ktn_utils.machine import cpu_model, usable_cpus

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "detectron2" / "densepose_rcnn_R_50_FPN_s1x.yaml"


def measure(threads: int, rounds: int, precision: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from golden import GOLDEN, make_weights, write_detectron2_pkl

    from ktn_model.inference.pipeline import Predictor

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_detectron2_pkl(make_weights("R_50_FPN_s1x"), Path(tmp) / "golden_R_50_FPN_s1x.pkl")
        predictor = Predictor.from_checkpoint(weights, PRESET, ["MODEL.DEVICE", "cpu",
                                                                "TEST.DENSEPOSE_PRECISION", precision])
        exact = None if precision == "float32" else Predictor.from_checkpoint(weights, PRESET, ["MODEL.DEVICE", "cpu"])
    image = np.asarray(Image.open(GOLDEN / "astronaut.png").convert("RGB"))
    predictor(image)
    seconds, out = [], {}
    for _ in range(rounds):
        start = time.perf_counter()
        out = predictor(image)
        seconds.append(time.perf_counter() - start)
    row = {"threads": threads, "s/image": min(seconds), "detections": len(out["boxes"]),
           "peak RSS (MiB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return row if exact is None else {**row, **differences(exact(image), out)}


def differences(exact: dict, reduced: dict) -> dict:
    """Same boxes and scores?, the share of equal I labels, mean and 99th percentile |U/V| gap on common body."""
    same = torch.equal(exact["boxes"], reduced["boxes"]) and torch.equal(exact["scores"], reduced["scores"])
    labels = [(a.labels == b.labels).flatten() for a, b in zip(exact["densepose"], reduced["densepose"], strict=True)]
    gaps = [(a.uv - b.uv).abs()[:, (a.labels > 0) & (b.labels > 0)].flatten()
            for a, b in zip(exact["densepose"], reduced["densepose"], strict=True)]
    gap = torch.cat(gaps)
    return {"same detections": same, "equal I labels": float(torch.cat(labels).float().mean()),
            "U/V gap mean": float(gap.mean()), "U/V gap p99": float(gap.quantile(0.99))}


def main(rounds: int = typer.Option(2, help="Timed images per thread count (after one warm-up)."),
         precision: str = typer.Option("float32", help="TEST.DENSEPOSE_PRECISION: float32 or bfloat16."),
         child: int = typer.Option(0, hidden=True)) -> None:
    """Print the CPU, then s/image, detections and peak memory at 1 and 2 threads."""
    if child:
        print(json.dumps(measure(child, rounds, precision)))
        return
    print(f"CPU: {cpu_model()}, torch kernels {torch.backends.cpu.get_cpu_capability()}, {usable_cpus()} usable "
          f"CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{PRESET.name}, golden R-50 weights, astronaut.png (800×800), DensePose branch in {precision}")
    for threads in (1, 2):
        cmd = [sys.executable, __file__, "--rounds", str(rounds), "--precision", precision, "--child", str(threads)]
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(f"{threads} thread(s): {row['s/image']:.1f} s/image, {row['detections']} detections, "
              f"peak RSS {row['peak RSS (MiB)']:.0f} MiB")
        if "same detections" in row:
            print(f"  against float32: same detections {row['same detections']}, equal I labels "
                  f"{row['equal I labels']:.2%}, U/V gap mean {row['U/V gap mean']:.4f}, p99 {row['U/V gap p99']:.4f}")


if __name__ == "__main__":
    typer.run(main)
