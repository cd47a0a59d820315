"""Images/s of ``ktn infer`` over a folder against the model alone, on CPU (docs/inference.md, "Throughput").

50 synthetic images (``--images``, 144 x 192 at most, ``ktn_model.data.synthetic``) are written to a temporary
folder; a model of ``--config`` with random weights (seed 0) and ``--min-score`` runs on them:

- model alone: the network's forward on the already decoded and resized tensors, one image a call;
- Predictor: resize, network, score filter and post-processing from decoded pixels;
- ktn infer: ``engine.outputs.run`` on the folder: decoding in the read-ahead thread, the Predictor, the IUV and
  INDS PNGs, the part files and results.json (``--vis`` pictures too, none by default).

Each figure is the best of ``--rounds`` passes after one warm-up image. The CPU is printed.

    .venv/bin/python benchmarks/infer_throughput.py [--threads 1] [--rounds 2] [--vis dp_parula]
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import torch
import typer
from hrnet_speed import cpu_name  # this folder is on sys.path when the script runs
from PIL import Image
from rich.console import Console

from ktn_model.config import setup_cfg
from ktn_model.data.resize import resize_shortest_edge
from ktn_model.data.synthetic import synth_scene
from ktn_model.engine.outputs import InferenceRun, run
from ktn_model.engine.predictor import Predictor
from ktn_model.engine.progress import ImageProgress
from ktn_model.engine.visualize import parse_vis
from ktn_model.modeling import build_model

ROOT = Path(__file__).resolve().parents[1]


def best_rate(count: int, fn, rounds: int) -> float:
    """Images/s of the fastest of ``rounds`` calls of ``fn()`` (which processes ``count`` images)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def main(images: int = 50, config: str = "configs/ktn_tiny_cpu.yaml", threads: int = 1, rounds: int = 2,
         min_score: float = 0.05, vis: str = "") -> None:
    torch.set_num_threads(threads)
    cfg = setup_cfg(ROOT / config, [])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    predictor = Predictor(cfg, model, min_score)
    pixels = [synth_scene(0, k, 192).pixels for k in range(images)]
    tensors = [torch.tensor(resize_shortest_edge(p, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST))
               .permute(2, 0, 1).float().div(255) for p in pixels]  # fmt: skip
    predictor(pixels[0])  # warm-up
    with torch.no_grad():
        alone = best_rate(images, lambda: [model([t]) for t in tensors], rounds)
    whole = best_rate(images, lambda: [predictor(p) for p in pixels], rounds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for k, p in enumerate(pixels):
            Image.fromarray(p).save(folder / f"im{k:03d}.png")
        paths = sorted(folder.iterdir())
        outs = iter(range(rounds))

        def infer() -> None:
            job = InferenceRun(predictor, Path(tmp) / f"out{next(outs)}", parse_vis(vis) if vis else [])
            run(job, paths, progress=ImageProgress(len(paths), Console(file=io.StringIO())))

        folder_rate = best_rate(images, infer, rounds)
    detections = sum(len(predictor(p)["scores"]) for p in pixels[:10]) / 10
    print(f"CPU: {cpu_name()}, {threads} thread(s); {config}, random weights, --min-score {min_score} "
          f"(~{detections:.1f} detections/image), {images} images {pixels[0].shape[1]}x{pixels[0].shape[0]}")
    print(f"model alone {alone:.2f} images/s | Predictor {whole:.2f} images/s | ktn infer on the folder "
          f"{folder_rate:.2f} images/s ({folder_rate / alone:.2f}x the model alone), vis: {vis or 'none'}")


if __name__ == "__main__":
    typer.run(main)
