"""Training speed: iterations/s, images/s and peak memory of the real training step.

- ``--preset demo`` (default): the ``ktn demo`` configuration (tiny KTN, 2 images of ~256 px per
  iteration) on CPU, on a fresh synthetic set.
- ``--preset r50``: the R-50 KTN configuration (``configs/ktn_R_50_v2.yaml``) at 800 px with AMP
  on CUDA (skipped with a message when no GPU is present); ``--batch`` images per GPU.

Each timed iteration is ``Trainer.run_step`` (forward, NaN guard, backward, SGD, LR step), after
``--warmup`` untimed ones. Peak memory: the CUDA allocator's peak, or the process's peak RSS on CPU.

    .venv/bin/python benchmarks/train_speed.py [--preset demo|r50] [--iters 10] [--warmup 2] [--threads 2]
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import typer

from ktn_model.config import setup_cfg
from ktn_model.data.synthetic import generate
from ktn_model.demo.workflow import DEFAULT_GRAPH, DemoSettings, demo_cfg
from ktn_model.engine.runner import train_batches
from ktn_model.engine.trainer import Trainer
from ktn_model.modeling import build_model
from ktn_model.rng import seed_all

ROOT = Path(__file__).resolve().parents[1]


def _demo_preset(work: Path, _batch: int):
    settings = DemoSettings(out=work, train_images=16)
    train = work / "train"
    generate(train, settings.train_images, seed=1, image_size=settings.image_size)
    return demo_cfg(settings, DEFAULT_GRAPH, train, train)


def _r50_preset(work: Path, batch: int):
    train = work / "train"
    generate(train, 2 * batch, seed=1, image_size=320)
    return setup_cfg(ROOT / "configs" / "ktn_R_50_v2.yaml", [
        "OUTPUT_DIR", str(work / "out"), "MODEL.DEVICE", "cuda", "MODEL.WEIGHTS", "",
        "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", str(DEFAULT_GRAPH),
        "DATASETS.TRAIN", repr([f"{train}/annotations.json:{train}/images"]),
        "INPUT.MIN_SIZE_TRAIN", "[800]", "INPUT.MAX_SIZE_TRAIN", "1333",  # upscaled to the paper's 800 px
        "SOLVER.IMS_PER_BATCH", str(batch), "SOLVER.AMP", "True", "DATALOADER.NUM_WORKERS", "2",
    ])  # fmt: skip


PRESETS = {"demo": _demo_preset, "r50": _r50_preset}


def _peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(cfg, iters: int, warmup: int) -> dict:
    """Time ``iters`` training steps after ``warmup`` ones; returns the figures."""
    seed_all(cfg.SEED)
    trainer = Trainer(cfg, build_model(cfg), lambda start: train_batches(cfg, start))
    device = trainer.device
    batches = iter(train_batches(cfg, 0))
    trainer.model.train()
    for _ in range(warmup):
        trainer.run_step(trainer.model, next(batches))
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    elapsed = 0.0
    for _ in range(iters):
        batch = next(batches)  # data loading is not timed
        start = time.perf_counter()
        trainer.run_step(trainer.model, batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - start
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    return {
        "device": name,
        "images/iter": cfg.SOLVER.IMS_PER_BATCH,
        "it/s": iters / elapsed,
        "images/s": iters * cfg.SOLVER.IMS_PER_BATCH / elapsed,
        "s/iter": elapsed / iters,
        "peak MiB": _peak_memory_mib(device),
        "AMP": trainer.amp,
    }


def main(
    preset: str = typer.Option("demo", "--preset", help="demo (CPU) or r50 (CUDA, 800 px, AMP)."),
    iters: int = typer.Option(10, "--iters", min=1, help="Timed iterations."),
    warmup: int = typer.Option(2, "--warmup", min=0, help="Untimed iterations first."),
    batch: int = typer.Option(4, "--batch", min=1, help="Images per GPU for --preset r50."),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for torch."),
) -> None:
    """Print one row of training-speed figures for the chosen preset."""
    if preset not in PRESETS:
        raise typer.BadParameter(f"--preset must be one of {', '.join(PRESETS)}")
    if preset == "r50" and not torch.cuda.is_available():
        typer.echo("r50 preset: no CUDA device here, skipped")
        return
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as work:
        cfg = PRESETS[preset](Path(work), batch)
        row = measure(cfg, iters, warmup)
    typer.echo(pd.DataFrame([{"preset": preset, **row}]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    typer.run(main)
