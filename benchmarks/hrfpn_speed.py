"""Seconds per 800×800 image of the HRNet-W32 HRFPN backbone on CPU, next to the R-50 FPN backbone.

Both get the release's pixel convention (BGR minus the mean, no padding) on ``astronaut.png`` resized to
800×800; the HRFPN carries the golden fixture's backbone weights (tests/data/golden/HRNet_w32_KTNv2), the R-50
keeps its random initialisation (the time does not depend on the values). One warm-up pass, then the fastest
and the median of ``--rounds`` passes, under ``torch.no_grad`` in eval mode.

    .venv/bin/python benchmarks/hrfpn_speed.py [--threads 1] [--rounds 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import typer

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = "HRNet_w32_KTNv2"


def seconds(model: torch.nn.Module, x: torch.Tensor, rounds: int) -> list[float]:
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(rounds):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def main(threads: int = typer.Option(1, help="torch.set_num_threads"),
         rounds: int = typer.Option(3, help="Timed passes after one warm-up.")) -> None:
    """Print min / median seconds per image and the parameter count of both backbones."""
    sys.path.insert(0, str(ROOT / "tests"))
    from golden import make_weights, release_input

    from ktn_model.config import get_cfg
    from ktn_model.modeling.backbone import build_backbone
    from ktn_model.modeling.hrfpn import build_hrfpn_backbone

    torch.set_num_threads(threads)
    x = release_input(FIXTURE, "astronaut")
    hrfpn = build_hrfpn_backbone(get_cfg())
    hrfpn.load_state_dict({k.removeprefix("backbone."): torch.from_numpy(v)
                           for k, v in make_weights(FIXTURE, "backbone.").items()})
    r50 = build_backbone(get_cfg())
    print(f"800×800, {threads} thread(s), {rounds} rounds")
    for name, model in (("HRNet-W32 + HRFPN (p1..p5)", hrfpn), ("R-50 + FPN (P2..P6)", r50)):
        times = seconds(model.eval(), x, rounds)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:28s} min {min(times):6.2f} s  median {statistics.median(times):6.2f} s  {params:5.1f} M params")


if __name__ == "__main__":
    typer.run(main)
