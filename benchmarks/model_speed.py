"""Inference speed of the Table I variants and the detectron2 zoo R-50 preset against torchvision's keypoint R-CNN.

Each model runs in its own subprocess on the same seeded images (short side 800), randomly initialised,
``--rounds`` times round-robin; reported: the fastest image time over all rounds (robust to other load on
a shared machine), its ratio to ``keypointrcnn_resnet50_fpn`` from this run, parameters, peak memory (CUDA
allocator peak, or the process's peak RSS on CPU) and detections per image.

    .venv/bin/python benchmarks/model_speed.py --images 2 --rounds 2 --threads 2 [--device cuda] [--detections 100]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import typer
from torchvision.models.detection import keypointrcnn_resnet50_fpn

from ktn_model.config import setup_cfg
from ktn_model.modeling import build_model

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "keypointrcnn_resnet50_fpn"
VARIANTS = {
    "baseline": "densepose_rcnn_R_50_baseline",
    "+MID": "densepose_rcnn_R_50_MIDv2",
    "+KTM": "densepose_rcnn_R_50_KTMv2",
    "KTN": "ktn_R_50_v2",
    "detectron2 zoo R-50": "detectron2/densepose_rcnn_R_50_FPN_s1x",
}


def _model(variant: str, device: str, detections: int) -> torch.nn.Module:
    """Score threshold 0, so that every model runs its heads on the same number of detections (random weights)."""
    if variant == REFERENCE:
        return keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, box_detections_per_img=detections,
                                         box_score_thresh=0.0)
    opts = ["MODEL.DEVICE", device, "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", str(ROOT / "graphs" / "v2.pkl"),
            "TEST.DETECTIONS_PER_IMAGE", str(detections), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
    return build_model(setup_cfg(ROOT / "configs" / f"{VARIANTS[variant]}.yaml", opts))


def measure(variant: str, images: int, device: str, threads: int, detections: int) -> dict:
    """Run one model (after one warm-up image) and return its figures."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = _model(variant, device, detections).to(device).eval()
    g = torch.Generator().manual_seed(0)
    batch = [torch.rand(3, 800, 1066, generator=g).to(device) for _ in range(images + 1)]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    n_det, seconds = [], []
    with torch.no_grad():
        model([batch[0]])
        for image in batch[1:]:
            sync()
            start = time.perf_counter()
            n_det.append(len(model([image])[0]["boxes"]))
            sync()
            seconds.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"model": variant, "s/image": min(seconds), "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
            "peak memory (MiB)": peak, "detections/image": sum(n_det) / images}


def main(images: int = 2, rounds: int = 2, device: str = "cpu", threads: int = 2, detections: int = 100,
         child: str = typer.Option("", hidden=True)) -> None:
    if child:
        print(json.dumps(measure(child, images, device, threads, detections)))
        return
    rows = []
    for r in range(rounds):
        for variant in [REFERENCE, *VARIANTS]:
            cmd = [sys.executable, __file__, "--images", str(images), "--device", device, "--threads", str(threads),
                   "--detections", str(detections), "--child", variant]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.splitlines()[-1]))
            print(f"round {r + 1}: measured {variant}", file=sys.stderr)
    table = pd.DataFrame(rows).groupby("model", sort=False).min()
    table.insert(1, f"× {REFERENCE}", table["s/image"] / table.loc[REFERENCE, "s/image"])
    print(f"device {device}, {threads} threads, fastest of {rounds}×{images} images of 800×1066, random weights, "
          f"score threshold 0, at most {detections} detections")
    print(table.round(3).to_string())


if __name__ == "__main__":
    typer.run(main)
