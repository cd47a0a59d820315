"""Seconds per image of the KTNv2 HRNet-W32 preset (the whole ``Predictor``: resize, network, post-processing) on
CPU, with the golden fixture's weights loaded through ``--weights`` as a release ``.pth``.

Each thread count runs in its own process: one warm-up image, then the fastest of ``--rounds`` per image; peak
memory is the process's peak RSS (it includes building the model and reading the 0.85 GB checkpoint). The CPU is
named in the output; figures from other machines are not divided by these.

    .venv/bin/python benchmarks/hrnet_speed.py [--threads 1,2] [--rounds 1]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import typer

from ktn_model.threads import cpu_description

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "release" / "ktnv2_HRNet_w32.yaml"
FIXTURE = "HRNet_w32_KTNv2"


def measure(threads: int, rounds: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from golden import load_image, make_weights, write_release_pth

    from ktn_model.config import setup_cfg
    from ktn_model.inference.pipeline import Predictor, build_trained_model

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_release_pth(make_weights(FIXTURE), Path(tmp) / "ktnv2_hrnet_w32.pth")
        cfg = setup_cfg(PRESET, ["MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", str(ROOT / "graphs/v2.pkl")])
        predictor = Predictor(cfg, build_trained_model(cfg, path))
    out = {}
    for image in ("astronaut", "coffee"):
        pixels = load_image(image)
        predictor(pixels)  # warm-up
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            result = predictor(pixels)
            times.append(time.perf_counter() - start)
        out[image] = {"seconds": min(times), "detections": len(result["boxes"])}
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main(threads: str = typer.Option("1,2", help="Comma-separated thread counts, one process each."),
         rounds: int = typer.Option(1, min=1, max=20, help="Timed passes per image after one warm-up."),
         child: int = typer.Option(0, hidden=True)) -> None:
    """Print seconds per image (astronaut 512×512 -> 800×800, coffee 400×600 -> 800×1200) and peak memory."""
    if child:
        print(json.dumps(measure(child, rounds)))
        return
    print(f"KTNv2 HRNet-W32, golden weights, whole Predictor; CPU: {cpu_description()}")
    for n in (int(t) for t in threads.split(",")):
        run = subprocess.run([sys.executable, __file__, "--child", str(n), "--rounds", str(rounds)],
                             capture_output=True, text=True, check=True)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"{n} thread(s): astronaut {r['astronaut']['seconds']:6.1f} s ({r['astronaut']['detections']} "
              f"detections), coffee {r['coffee']['seconds']:6.1f} s ({r['coffee']['detections']}), "
              f"peak RSS {r['peak_rss_gib']:.2f} GiB")


if __name__ == "__main__":
    typer.run(main)
