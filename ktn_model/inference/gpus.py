"""``ktn infer --num-gpus N``: one process per GPU, process r on ``cuda:r`` with shard r/N of the inputs
(docs/inference.md, "Several GPUs and machines")."""

from __future__ import annotations

import subprocess
import sys

import torch

LAUNCH = "import sys; from ktn_cli.ktn import main; sys.argv[0] = 'ktn'; main()"


def check_gpus(num_gpus: int, shard: str | None) -> None:
    """ValueError unless this machine has ``num_gpus`` CUDA devices and no ``--shard`` is given as well."""
    available = torch.cuda.device_count()
    if num_gpus < 0 or num_gpus > available:
        raise ValueError(f"--num-gpus {num_gpus}: this machine has {available} GPU(s)")
    if shard is not None:
        raise ValueError("--num-gpus and --shard cannot be combined: process r of --num-gpus N takes shard r/N")


def without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` / ``name=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            out.append(arg)
    return out


def run_on_gpus(num_gpus: int, shard: str | None, argv: list[str] | None = None) -> int:
    """Check, then start ``ktn`` with this command line (``sys.argv[1:]``) once per GPU and wait for all; returns the
    highest exit code. Every process merges results.json from the parts present when it ends (the last one: all)."""
    check_gpus(num_gpus, shard)
    args = without_option(list(sys.argv[1:] if argv is None else argv), "--num-gpus")
    children = [subprocess.Popen([sys.executable, "-c", LAUNCH, *args, "--shard", f"{r}/{num_gpus}",
                                  "MODEL.DEVICE", f"cuda:{r}"]) for r in range(num_gpus)]
    return max(child.wait() for child in children)
