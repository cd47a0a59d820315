"""The DensePose head's float32 convolutions in four forms, to see what speeds them up at equal work:
detectron2's ``DensePoseV1ConvXHead`` shape (8 × 3×3 convolutions, 256 -> 512 -> ... 512 channels, ReLU after each)
on ``--rois`` RoIs of 28×28, direct and contiguous (NCHW, ``TEST.WINOGRAD False``), channels-last (NHWC), a frozen
TorchScript graph (conv + ReLU fused by oneDNN) and Winograd F(4×4, 3×3) (``TEST.WINOGRAD True``, the default;
printed with its largest difference from the direct form, relative to the largest output). Random weights and
inputs (seed 0); one warm-up, then the fastest of ``--rounds``; prints the CPU and torch's kernel set. The GFLOP/s
figures count the direct form's work.

    .venv/bin/python benchmarks/head_layout.py [--rois 20] [--threads 1] [--rounds 2]
"""

from __future__ import annotations

import copy
import time
import warnings

import torch
import typer

from ktn_model.modeling.winograd import Conv2d, use_winograd
from ktn_model.threads import cpu_description

CONVS, IN_CHANNELS, CHANNELS, SIZE = 8, 256, 512, 28  # detectron2's R-50 DensePose head, RoI side


def head() -> torch.nn.Sequential:
    layers = []
    for k in range(CONVS):
        layers += [Conv2d(CHANNELS if k else IN_CHANNELS, CHANNELS, 3, padding=1), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).eval()


@torch.no_grad()
def fastest(model, x: torch.Tensor, rounds: int) -> float:
    model(x)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return min(times)


def main(rois: int = typer.Option(20, min=1), threads: int = typer.Option(1, min=1),
         rounds: int = typer.Option(2, min=1)) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, x = head(), torch.randn(rois, IN_CHANNELS, SIZE, SIZE)  # (R, 256, 28, 28)
    gflop = 2 * rois * SIZE * SIZE * 9 * CHANNELS * (IN_CHANNELS + (CONVS - 1) * CHANNELS) / 1e9
    print(f"CPU: {cpu_description()}, {threads} thread(s); "
          f"{rois} RoIs, {gflop:.0f} GFLOP")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        frozen = torch.jit.freeze(torch.jit.trace(model, x))
    last = torch.channels_last
    nhwc = copy.deepcopy(model).to(memory_format=last)
    winograd = copy.deepcopy(model)
    use_winograd(winograd)
    with torch.no_grad():
        exact = model(x)
        gap = ((winograd(x) - exact).abs().max() / exact.abs().max()).item()  # relative to the largest output
    forms = (("contiguous (NCHW)", model, x), ("channels-last (NHWC)", nhwc, x.to(memory_format=last)),
             ("frozen TorchScript", frozen, x), (f"Winograd (max |difference| {gap:.1e} of max |output|)", winograd, x))
    for name, net, inp in forms:
        seconds = fastest(net, inp, rounds)
        print(f"{name}: {seconds:.2f} s ({gflop / seconds:.0f} GFLOP/s)")


if __name__ == "__main__":
    typer.run(main)
