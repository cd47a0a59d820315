"""Paper Table I on synthetic data: the slim preset's baseline, +MID, +KTM and KTN, plus a control.

Every variant is ``configs/ktn_tiny_cpu.yaml`` with the demo's schedule (``ktn_model.demo.workflow``) and the
MID / KTM switches of Table I, trained on the same synthetic set and evaluated on the same val set,
once per seed. The set is harder than the demo's: 2-5 persons per image standing close together (so
they occlude one another) with heights from 0.2 to 0.9 of the image, and crowd regions more often.
The control is KTN whose CRKG matrices have their rows permuted (a fixed permutation per seed), i.e.
the graph's structure with the wrong source nodes. Prints GPS and GPSm AP, mean ± std (ddof 1) over the
seeds, and the wall time; ``OUT/ablation.json`` keeps every run.

    .venv/bin/python benchmarks/ablation.py [--iters 600] [--seeds 3] [--images 200] [--val-images 40] [--jobs 2]

The defaults (15 runs of 600 iterations, ``--jobs 2``: two one-thread runs at a time) take about 30 minutes
on 2 idle cores (about 3 it/s per run) and about an hour when other work shares them (1.1-1.6 it/s measured).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import dataclass, replace
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch
import typer

from ktn_model.data import scene, synthetic
from ktn_model.data.body import pose_body
from ktn_model.demo.workflow import DEFAULT_GRAPH, DemoSettings, demo_cfg
from ktn_model.engine.evaluator import evaluate_model
from ktn_model.engine.runner import train_batches
from ktn_model.engine.trainer import Trainer
from ktn_model.modeling import build_model
from ktn_model.modeling.ktm import VARIANTS as KTM_PARSERS
from ktn_model.modeling.ktm import load_crkg
from ktn_model.rng import seed_all
from ktn_utils.atomic import atomic_write

# Table I rows: (MODEL.ROI_DENSEPOSE_HEAD.DECODER_ON, ...KTM, shuffled CRKG rows); the decoder is MIDv2
VARIANTS = {
    "baseline": ("False", "none", False),
    "+MID": ("True", "none", False),
    "+KTM": ("False", "v2", False),
    "KTN": ("True", "v2", False),
    "KTN, shuffled CRKG": ("True", "v2", True),
}
PERSON_COUNTS, PERSON_COUNT_P = (2, 3, 4, 5), (0.25, 0.3, 0.25, 0.2)
HEIGHTS = (0.2, 0.9)  # person height / image height, log-uniform
GROUP_SPREAD = 0.18  # std of the persons' horizontal offsets from the group centre, / image width
CROWD_PROB = 0.4


def crowded_persons(rng: np.random.Generator, width: int, height: int) -> list[scene.Person]:
    """2-5 persons of very different sizes close together around one spot; larger ones are nearer."""
    count = int(rng.choice(PERSON_COUNTS, p=PERSON_COUNT_P))
    sizes = np.sort(np.exp(rng.uniform(*np.log(HEIGHTS), count))) * height
    centre = rng.uniform(0.3, 0.7) * width
    persons = []
    for k, size in enumerate(sizes):
        x = float(np.clip(centre + rng.normal(0, GROUP_SPREAD * width), 0.1 * width, 0.9 * width))
        y = float(np.clip(height - size / 2 - rng.uniform(0, 0.15) * height, size / 3, height - size / 3))
        posed = pose_body(scene.sample_pose(rng))
        persons.append(scene._place(rng, posed, size, width, height, 10.0 * (k + 1),  # noqa: SLF001
                                    rng.random() > scene.NO_DP_PROB, (x, y)))
    return persons


def make_sets(out: Path, images: int, val_images: int, size: int) -> tuple[Path, Path]:
    """The harder train and val sets (one process: the patched person sampler applies in it only)."""
    train, val = out / "data" / "train", out / "data" / "val"
    with mock.patch.object(synthetic, "sample_persons", crowded_persons), \
            mock.patch.object(synthetic, "CROWD_PROB", CROWD_PROB):
        synthetic.generate(train, images, seed=101, image_size=size, workers=1)
        synthetic.generate(val, val_images, seed=102, image_size=size, workers=1)
    return train, val


@dataclass(frozen=True)
class Run:
    """One training run: the variant, its seed and the demo settings (schedule, sizes, output folder)."""

    variant: str
    seed: int
    settings: DemoSettings
    train: Path
    val: Path
    graph: Path


def shuffled_graphs(cfg, seed: int) -> dict[str, np.ndarray]:
    """The configured CRKG matrices (|C_n|, 25) with their rows permuted by a seeded generator."""
    rng = np.random.default_rng(seed)
    graphs = load_crkg(cfg, KTM_PARSERS[cfg.MODEL.ROI_DENSEPOSE_HEAD.KTM])
    return {name: m[rng.permutation(len(m))] for name, m in graphs.items()}


def train_and_evaluate(run: Run) -> dict:
    """Train one variant with one seed on one thread; its GPS / GPSm AP and seconds."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    decoder, ktm, shuffle = VARIANTS[run.variant]
    cfg = demo_cfg(run.settings, run.graph, run.train, run.val).clone()
    cfg.defrost()
    cfg.merge_from_list(["MODEL.ROI_DENSEPOSE_HEAD.DECODER_ON", decoder, "MODEL.ROI_DENSEPOSE_HEAD.KTM", ktm])
    cfg.freeze()
    seed_all(cfg.SEED)
    model = build_model(cfg, shuffled_graphs(cfg, run.seed) if shuffle else None)
    trainer = Trainer(cfg, model, lambda it: train_batches(cfg, it), lambda m: evaluate_model(cfg, m))
    metrics = trainer.train()
    return {"variant": run.variant, "seed": run.seed, "GPS AP": metrics["densepose_gps"]["AP"],
            "GPSm AP": metrics["densepose_gpsm"]["AP"], "seconds": time.perf_counter() - start}


def summary(rows: list[dict]) -> pd.DataFrame:
    """Per variant (Table I order): GPS / GPSm AP as mean ± std over seeds, and minutes of training."""
    frame = pd.DataFrame(rows)
    out = []
    for variant in VARIANTS:
        runs = frame[frame["variant"] == variant]
        cells = {"variant": variant, "seeds": len(runs)}
        for metric in ("GPS AP", "GPSm AP"):
            std = runs[metric].std(ddof=1)  # nan with one seed
            cells[metric] = f"{runs[metric].mean():6.2f} ± {std:5.2f}"
        cells["minutes (sum)"] = f"{runs['seconds'].sum() / 60:.1f}"
        out.append(cells)
    return pd.DataFrame(out)


def main(
    out: Path = typer.Option(Path("output/ablation"), "--out", help="Data, runs and ablation.json go here."),
    iters: int = typer.Option(600, "--iters", min=1, help="Training iterations per run (2 images each)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Runs per variant (seeds 0..N-1)."),
    images: int = typer.Option(200, "--images", min=2, help="Synthetic training images."),
    val_images: int = typer.Option(40, "--val-images", min=1, help="Synthetic val images."),
    size: int = typer.Option(192, "--size", min=64, help="Longer image side in pixels."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Runs at a time (one torch thread each)."),
) -> None:
    """Train and evaluate every variant with every seed; print the Table I comparison."""
    start = time.perf_counter()
    train, val = make_sets(out, images, val_images, size)
    base = DemoSettings(out=out, train_images=images, val_images=val_images, image_size=size, iterations=iters)
    graph = DEFAULT_GRAPH
    runs = [Run(v, s, replace(base, out=out / "runs" / f"{i}_s{s}", seed=s), train, val, graph)
            for i, v in enumerate(VARIANTS) for s in range(seeds)]  # fmt: skip
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            rows = pool.map(train_and_evaluate, runs, chunksize=1)
    else:
        rows = [train_and_evaluate(run) for run in runs]
    atomic_write(out / "ablation.json", lambda f: f.write(json.dumps(rows, indent=1).encode()))
    typer.echo(summary(rows).to_string(index=False))
    typer.echo(f"{len(runs)} runs of {iters} iterations on {images} images ({size} px), {jobs} at a time: "
               f"{(time.perf_counter() - start) / 60:.1f} min in all")


if __name__ == "__main__":
    typer.run(main)
