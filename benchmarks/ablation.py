"""The systems of the KTN line on one synthetic benchmark: paper Table I (baseline, +MID, +KTM, KTN, and KTN with
a shuffled CRKG as a control) next to PID-net, DensePose R-CNN* with the cross-cascade and a KTN student trained
on a KTN teacher's inpainted labels (docs/training.md, "Ablation on synthetic data").

Every variant is the slim preset (``configs/ktn_demo_cpu.yaml``: ``ktn_tiny_cpu.yaml`` at the demo's sizes) with
its switches, trained on the same synthetic set and evaluated on the same val set, once per seed, one torch
thread per run. The set: 2-5 persons per image standing close together at heights 0.2-0.9 of the image, crowd
regions in 40 % of the images, and the label regime DensePose-COCO has and these methods address
(``ktn_model.data.synthetic.LabelRegime``): a long-tailed per-patch point quota, wrong patches and jittered U/V at
set rates (measured and printed), and a share of images with a second person inside a person's box. The val
set has the same persons and overlaps but clean labels and the plain quota.

The schedule is the release's two stages: per seed, stage 1 trains the KTN network on keypoints alone (box, RPN,
MID, head and the keypoint classifier K; every DensePose loss weight 0); each variant's stage 2 starts from it
(every tensor whose name and shape match: the backbone, RPN and box head always, MID and the head where the
variant has them, and K, from which KTM transfers; KTM's own parameters start fresh) and trains with all its
losses. The inpainted student's
teacher is the same seed's KTN run (``ktn_model.engine.inpaint``). Prints GPS and GPSm AP, mean ± std (ddof 1)
over the seeds, which of the papers' orderings hold, the CPU and the wall time; ``OUT/ablation.json`` keeps every
run.

    .venv/bin/python benchmarks/ablation.py [--iters 300] [--stage1-iters 300] [--seeds 3] [--images 160] \
        [--val-images 30] [--size 160] [--jobs 2] [--plain-labels]
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch
import typer
import yaml

from ktn_model.data import scene, synthetic
from ktn_model.data.body import pose_body
from ktn_model.data.synthetic import LONG_TAIL_QUOTA, LabelRegime
from ktn_model.engine.demo import DEFAULT_GRAPH, DemoSettings, demo_cfg
from ktn_model.engine.evaluator import evaluate_model
from ktn_model.engine.inpaint import inpaint
from ktn_model.engine.rng import seed_all
from ktn_model.engine.runner import train_batches
from ktn_model.engine.trainer import Trainer
from ktn_model.modeling import build_model
from ktn_model.modeling.ktm import VARIANTS as KTM_PARSERS
from ktn_model.modeling.ktm import load_crkg
from ktn_model.modeling.weights import load_checkpoint
from ktn_utils.atomic import atomic_write

ROOT = Path(__file__).resolve().parents[1]
HEAD = "MODEL.ROI_DENSEPOSE_HEAD."
TABLE_I = {"baseline": ["DECODER_ON", "False", "KTM", "none"], "+MID": ["DECODER_ON", "True", "KTM", "none"],
           "+KTM": ["DECODER_ON", "False", "KTM", "v2"], "KTN": ["DECODER_ON", "True", "KTM", "v2"]}
# Stage 1 (keypoints, box and MID only): every DensePose loss weight 0.
STAGE1 = [HEAD + k for k in ("POINT_REGRESSION_WEIGHTS", "PART_WEIGHTS", "INDEX_WEIGHTS", "BODY_MASK_WEIGHTS")]
TEACHER = "KTN"
STUDENT = "KTN, inpainted student"
PSEUDO_LABEL_WEIGHT = 0.2
# The labels of the training set (LabelRegime) and of the val set (clean, same persons and overlaps).
TRAIN_REGIME = LabelRegime(point_quota=LONG_TAIL_QUOTA, wrong_patch_rate=0.15, uv_noise_rate=0.2, uv_noise_std=0.1,
                           overlap_share=0.3)
VAL_REGIME = LabelRegime(overlap_share=0.3)
PERSON_COUNTS, PERSON_COUNT_P = (2, 3, 4, 5), (0.25, 0.3, 0.25, 0.2)
HEIGHTS = (0.2, 0.9)  # person height / image height, log-uniform
GROUP_SPREAD = 0.18  # std of the persons' horizontal offsets from the group centre, / image width
CROWD_PROB = 0.4


def preset_keys(preset: str) -> list[str]:
    """A preset file's own MODEL.ROI_DENSEPOSE_HEAD keys (not its base's) as KEY VALUE overrides."""
    head = yaml.safe_load((ROOT / "configs" / preset).read_text())["MODEL"]["ROI_DENSEPOSE_HEAD"]
    return [x for k, v in head.items() for x in (HEAD + k, repr(v))]


def variants() -> dict[str, tuple[list[str], bool]]:
    """Row name -> (overrides, shuffled CRKG), in the order of the table."""
    rows = {name: ([HEAD + k if i % 2 == 0 else k for i, k in enumerate(opts)], False)
            for name, opts in TABLE_I.items()}
    rows["KTN, shuffled CRKG"] = (rows["KTN"][0], True)
    rows["PID-net"] = (preset_keys("pidnet_tiny_cpu.yaml"), False)
    rows["DensePose R-CNN* + cascade"] = (rows["baseline"][0] + preset_keys("densepose_rcnn_R_50_cascade.yaml"),
                                          False)
    rows[STUDENT] = (rows["KTN"][0] + [HEAD + "PSEUDO_LABEL_WEIGHT", repr(PSEUDO_LABEL_WEIGHT)], False)
    return rows


# Paper orderings checked on the means: (better, worse, source).
ORDERINGS = [("+MID", "baseline", "KTN Table I"), ("+KTM", "baseline", "KTN Table I"), ("KTN", "+MID", "KTN Table I"),
             ("KTN", "+KTM", "KTN Table I"), ("KTN", "KTN, shuffled CRKG", "KTN (the graph matters)"),
             ("PID-net", "baseline", "PID-net (over DensePose R-CNN)"),
             ("DensePose R-CNN* + cascade", "baseline", "DensePose R-CNN (cascade)"),
             (STUDENT, "KTN", "DensePose R-CNN (inpainting)")]


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


def make_sets(out: Path, images: int, val_images: int, size: int, plain: bool) -> tuple[Path, Path]:
    """The train and val sets (one process: the patched person sampler applies in it only)."""
    train, val = out / "data" / "train", out / "data" / "val"
    train_regime, val_regime = (synthetic.PLAIN, synthetic.PLAIN) if plain else (TRAIN_REGIME, VAL_REGIME)
    with mock.patch.object(synthetic, "sample_persons", crowded_persons), \
            mock.patch.object(synthetic, "CROWD_PROB", CROWD_PROB):
        synthetic.generate(train, images, seed=101, image_size=size, workers=1, regime=train_regime)
        synthetic.generate(val, val_images, seed=102, image_size=size, workers=1, regime=val_regime)
    return train, val


@dataclass(frozen=True)
class Run:
    """One training run: the variant ("stage 1" for the keypoint stage), its seed, the demo settings (schedule,
    sizes, output folder), the data and, for stage 2, the stage-1 checkpoint (and the teacher, for the student)."""

    variant: str
    seed: int
    settings: DemoSettings
    train: Path
    val: Path
    stage1: Path | None = None
    teacher: Path | None = None


def shuffled_graphs(cfg, seed: int) -> dict[str, np.ndarray]:
    """The configured CRKG matrices (|C_n|, 25) with their rows permuted by a seeded generator."""
    rng = np.random.default_rng(seed)
    graphs = load_crkg(cfg, KTM_PARSERS[cfg.MODEL.ROI_DENSEPOSE_HEAD.KTM])
    return {name: m[rng.permutation(len(m))] for name, m in graphs.items()}


def load_matching(model: torch.nn.Module, path: Path) -> int:
    """Copy every tensor of checkpoint ``path`` whose name and shape match ``model``'s, except KTM's own (stage 1
    does not train them, and the control's shuffled CRKG must stay shuffled); how many were copied."""
    state, own = load_checkpoint(path)["model"], model.state_dict()
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and ".ktm." not in k}
    model.load_state_dict(kept, strict=False)
    return len(kept)


def run_cfg(run: Run, opts: list[str], pseudo: Path | None = None):
    cfg = demo_cfg(run.settings, DEFAULT_GRAPH, run.train, run.val).clone()
    cfg.defrost()
    cfg.merge_from_list(opts + (["DATASETS.TRAIN_PSEUDO_LABELS", [str(pseudo)]] if pseudo else []))
    cfg.freeze()
    return cfg


def train_and_evaluate(run: Run) -> dict:
    """Train one run on one thread; stage 1 returns its checkpoint, stage 2 its GPS / GPSm AP. Seconds in both."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    if run.stage1 is None:  # the keypoint + MID stage (KTN's network, DensePose losses off)
        cfg = run_cfg(run, [HEAD + "DECODER_ON", "True", HEAD + "KTM", "v2", *(x for k in STAGE1 for x in (k, "0.0")),
                            "DATASETS.TEST", "[]"])
        seed_all(cfg.SEED)
        Trainer(cfg, build_model(cfg), lambda it: train_batches(cfg, it)).train()
        return {"variant": "stage 1", "seed": run.seed, "checkpoint": str(Path(cfg.OUTPUT_DIR) / "model_final.pth"),
                "seconds": time.perf_counter() - start}
    opts, shuffle = variants()[run.variant]
    pseudo, labelled = None, None
    if run.teacher is not None:
        pseudo = Path(run.settings.out) / "pseudo_labels.json"
        pseudo.unlink(missing_ok=True)
        labelled = inpaint(run.teacher, run.train / "annotations.json", run.train / "images", pseudo).labelled
    cfg = run_cfg(run, opts, pseudo)
    seed_all(cfg.SEED)
    model = build_model(cfg, shuffled_graphs(cfg, run.seed) if shuffle else None)
    copied = load_matching(model, run.stage1)
    metrics = Trainer(cfg, model, lambda it: train_batches(cfg, it), lambda m: evaluate_model(cfg, m)).train()
    return {"variant": run.variant, "seed": run.seed, "GPS AP": metrics["densepose_gps"]["AP"],
            "GPSm AP": metrics["densepose_gpsm"]["AP"], "stage-1 tensors": copied, "inpainted share": labelled,
            "checkpoint": str(Path(cfg.OUTPUT_DIR) / "model_final.pth"), "seconds": time.perf_counter() - start}


def schedule(base: Run, seeds: int, jobs: int, stage1_iters: int) -> list[dict]:
    """Every run, ``jobs`` at a time, each as soon as what it needs exists: stage 1 per seed, then the variants
    from it, the student after its seed's teacher."""
    names = list(variants())
    pending = [("stage 1", s) for s in range(seeds)] + [(v, s) for s in range(seeds) for v in names]
    done: dict[tuple[str, int], dict] = {}
    running: dict[Future, tuple[str, int]] = {}

    def ready(key: tuple[str, int]) -> Run | None:
        variant, seed = key
        settings = replace(base.settings, out=base.settings.out / "runs" / f"{variant.replace(' ', '_')}_s{seed}",
                           seed=seed)
        if variant == "stage 1":
            return replace(base, variant=variant, seed=seed, settings=replace(settings, iterations=stage1_iters))
        stage1 = done.get(("stage 1", seed))
        teacher = done.get((TEACHER, seed)) if variant == STUDENT else {}
        if stage1 is None or teacher is None:
            return None
        return replace(base, variant=variant, seed=seed, settings=settings, stage1=Path(stage1["checkpoint"]),
                       teacher=Path(teacher["checkpoint"]) if variant == STUDENT else None)

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        while pending or running:
            for key in list(pending):
                run = ready(key) if len(running) < jobs else None
                if run is not None:
                    pending.remove(key)
                    running[pool.submit(train_and_evaluate, run)] = key
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done[running.pop(future)] = future.result()
    return list(done.values())


def summary(rows: list[dict]) -> pd.DataFrame:
    """Per variant (table order): GPS / GPSm AP as mean ± std over seeds, and minutes of training."""
    frame = pd.DataFrame([r for r in rows if r["variant"] != "stage 1"])
    out = []
    for variant in variants():
        runs = frame[frame["variant"] == variant]
        cells = {"variant": variant, "seeds": len(runs)}
        for metric in ("GPS AP", "GPSm AP"):
            std = runs[metric].std(ddof=1)  # nan with one seed
            cells[metric] = f"{runs[metric].mean():6.2f} ± {std:5.2f}"
        cells["minutes (sum)"] = f"{runs['seconds'].sum() / 60:.1f}"
        out.append(cells)
    return pd.DataFrame(out)


def orderings(rows: list[dict]) -> list[str]:
    """Each paper ordering A > B on the GPS AP means: holds or not, the difference, and whether it exceeds the
    larger of the two standard deviations."""
    frame = pd.DataFrame([r for r in rows if r["variant"] != "stage 1"]).groupby("variant")["GPS AP"]
    mean, std = frame.mean(), frame.std(ddof=1).fillna(0.0)
    lines = []
    for better, worse, source in ORDERINGS:
        diff = mean[better] - mean[worse]
        clear = abs(diff) > max(std[better], std[worse])
        verdict = "holds" if diff > 0 else "does not hold"
        lines.append(f"{better} > {worse} ({source}): {verdict}, {diff:+.2f} GPS AP"
                     f"{'' if clear else ' (within one std)'}")
    return lines


def cpu_name() -> str:
    """/proc/cpuinfo's model name and torch's CPU capability."""
    name = platform.processor() or "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name")), name)
    return f"{name}, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


def main(
    out: Path = typer.Option(Path("output/ablation"), "--out", help="Data, runs and ablation.json go here."),
    iters: int = typer.Option(300, "--iters", min=1, help="Stage-2 iterations per run (2 images each)."),
    stage1_iters: int = typer.Option(300, "--stage1-iters", min=1, help="Stage-1 (keypoint + MID) iterations."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Runs per variant (seeds 0..N-1)."),
    images: int = typer.Option(160, "--images", min=2, help="Synthetic training images."),
    val_images: int = typer.Option(30, "--val-images", min=1, help="Synthetic val images."),
    size: int = typer.Option(160, "--size", min=64, help="Longer image side in pixels."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Runs at a time (one torch thread each)."),
    plain_labels: bool = typer.Option(False, "--plain-labels", help="The plain synthetic labels (no regime)."),
) -> None:
    """Train and evaluate every variant with every seed; print the comparison and the papers' orderings."""
    start = time.perf_counter()
    train, val = make_sets(out, images, val_images, size, plain_labels)
    regime = json.loads((train / "annotations.json").read_text())["info"].get("label_regime")
    settings = DemoSettings(out=out, train_images=images, val_images=val_images, image_size=size, iterations=iters)
    base = Run("", 0, settings, train, val)
    rows = schedule(base, seeds, jobs, stage1_iters)
    minutes = (time.perf_counter() - start) / 60
    report = {"runs": rows, "label_regime": regime, "cpu": cpu_name(), "minutes": minutes}
    atomic_write(out / "ablation.json", lambda f: f.write(json.dumps(report, indent=1).encode()))
    typer.echo(summary(rows).to_string(index=False))
    typer.echo("\n".join(orderings(rows)))
    if regime:
        m = regime["measured"]
        typer.echo(f"training labels: {m['wrong_patch_rate']:.1%} wrong patches, {m['uv_jitter_rate']:.1%} jittered "
                   f"U/V, patch shares {m['patch_share_min_max'][0]:.2%}-{m['patch_share_min_max'][1]:.1%}, "
                   f"{m['overlapping_person_share']:.1%} of DensePose persons overlap another")
    typer.echo(f"{len(rows)} runs (stage 1: {stage1_iters} iterations, stage 2: {iters}) on {images} images "
               f"({size} px), {jobs} at a time: {minutes:.1f} min in all; {cpu_name()}")


if __name__ == "__main__":
    typer.run(main)
