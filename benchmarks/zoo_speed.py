"""Seconds per image of detectron2 model-zoo presets on CPU, with their golden fixtures' weights: the chart R-50
(default), one confidence (``R_50_FPN_WC2M_s1x``, docs/confidence.md) and one CSE model (``R_50_FPN_soft_s1x_cse``,
docs/cse.md).

The weights are the fixture's (tests/data/golden, regenerated from its manifest), loaded as a detectron2 ``.pkl``
through ``--weights``; the image is ``astronaut.png`` (512×512 -> 800×800, 85 detections with the R-50 weights); the
whole ``Predictor`` is timed, post-processing included (confidences at box size, closest vertices). Each thread
count runs in its own process: one warm-up image, then the fastest of ``--rounds`` (robust to other load); peak
memory is the process's peak RSS. The first line names the CPU (model and torch's kernel set,
``torch.backends.cpu.get_cpu_capability()``) and the load average: figures from different CPUs are not comparable,
so this prints no ratio to a time measured elsewhere (to compare with detectron2, time it on the same machine).
``--arithmetic`` names how the DensePose head computes, one or more of: ``direct`` (float32 convolutions,
``TEST.WINOGRAD False``), ``winograd`` (float32, Winograd F(4×4, 3×3), the default ``TEST.WINOGRAD True``) and
``bfloat16`` (the branch under autocast, ``TEST.DENSEPOSE_PRECISION``). For each but ``direct`` it prints how far the
outputs are from ``direct``'s: the same detections, the share of equal I labels, and the U/V differences (chart
models).

    .venv/bin/python benchmarks/zoo_speed.py --rounds 2 --arithmetic direct,winograd[,bfloat16]
    .venv/bin/python benchmarks/zoo_speed.py --rounds 2 --fixtures R_50_FPN_WC2M_s1x,R_50_FPN_soft_s1x_cse
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
PRESETS = {  # golden fixture -> its preset under configs/detectron2
    "R_50_FPN_s1x": "densepose_rcnn_R_50_FPN_s1x.yaml",
    "R_50_FPN_WC2M_s1x": "densepose_rcnn_R_50_FPN_WC2M_s1x.yaml",
    "R_50_FPN_soft_s1x_cse": "cse/densepose_rcnn_R_50_FPN_soft_s1x.yaml",
}


ARITHMETIC = {  # --arithmetic -> config overrides
    "direct": ["TEST.WINOGRAD", "False"],
    "winograd": ["TEST.WINOGRAD", "True"],
    "bfloat16": ["TEST.DENSEPOSE_PRECISION", "bfloat16"],
}


def measure(fixture: str, threads: int, rounds: int, arithmetic: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from golden import GOLDEN, make_weights, write_detectron2_pkl

    from ktn_model.inference.pipeline import Predictor

    torch.set_num_threads(threads)
    preset = ROOT / "configs" / "detectron2" / PRESETS[fixture]
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_detectron2_pkl(make_weights(fixture), Path(tmp) / f"golden_{fixture}.pkl")
        predictor = Predictor.from_checkpoint(weights, preset, ["MODEL.DEVICE", "cpu", *ARITHMETIC[arithmetic]])
        exact = None if arithmetic == "direct" else Predictor.from_checkpoint(
            weights, preset, ["MODEL.DEVICE", "cpu", *ARITHMETIC["direct"]])
    image = np.asarray(Image.open(GOLDEN / "astronaut.png").convert("RGB"))
    predictor(image)
    seconds, out = [], {}
    for _ in range(rounds):
        start = time.perf_counter()
        out = predictor(image)
        seconds.append(time.perf_counter() - start)
    row = {"threads": threads, "s/image": min(seconds), "detections": len(out["boxes"]),
           "peak RSS (MiB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    chart = exact is not None and hasattr(out["densepose"][0], "labels") if out["densepose"] else False
    return {**row, **differences(exact(image), out)} if chart else row


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
         arithmetic: str = typer.Option("direct,winograd", help=f"Comma-separated, of: {', '.join(ARITHMETIC)}."),
         fixtures: str = typer.Option("R_50_FPN_s1x", help=f"Comma-separated, of: {', '.join(PRESETS)}."),
         child: int = typer.Option(0, hidden=True)) -> None:
    """Print the CPU, then per preset s/image, detections and peak memory at 1 and 2 threads."""
    chosen, kinds = [f for f in fixtures.split(",") if f], [a for a in arithmetic.split(",") if a]
    if child:
        print(json.dumps(measure(chosen[0], child, rounds, kinds[0])))
        return
    for option, names, known in (("--fixtures", chosen, PRESETS), ("--arithmetic", kinds, ARITHMETIC)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise typer.BadParameter(f"{option} {unknown[0]}: choose from {', '.join(known)}")
    print(f"CPU: {cpu_model()}, torch kernels {torch.backends.cpu.get_cpu_capability()}, {usable_cpus()} usable "
          f"CPUs, load average {os.getloadavg()[0]:.1f}")
    for fixture, kind in ((f, k) for f in chosen for k in kinds):
        print(f"{PRESETS[fixture]}, golden {fixture} weights, astronaut.png (800×800), DensePose head: {kind}")
        for threads in (1, 2):
            cmd = [sys.executable, __file__, "--rounds", str(rounds), "--arithmetic", kind, "--fixtures", fixture,
                   "--child", str(threads)]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            report(threads, row)


def report(threads: int, row: dict) -> None:
    print(f"{threads} thread(s): {row['s/image']:.1f} s/image, {row['detections']} detections, "
          f"peak RSS {row['peak RSS (MiB)']:.0f} MiB")
    if "same detections" in row:
        print(f"  against direct: same detections {row['same detections']}, equal I labels "
              f"{row['equal I labels']:.2%}, U/V gap mean {row['U/V gap mean']:.4f}, p99 {row['U/V gap p99']:.4f}")


if __name__ == "__main__":
    typer.run(main)
