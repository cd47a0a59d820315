"""Time ``evaluate_densepose`` on a minival-sized synthetic set: 1508 images, 20 detections each.

    .venv/bin/python benchmarks/eval_speed.py [--images 1508] [--seed 0] [--work output/bench_eval]

The synthetic set (``ktn data synth``) is generated once into ``--work`` and reused. Detections are
built from the ground truth: per person a box of ±1 px jitter whose IUV paints the coarse-part mask
and the GT points (U shifted on every third person), then false positives around the persons up to
20 per image, taken from a small pool of blocky IUV arrays. The timed part reads both json files and the
eval data and computes GPS, GPSm and keypoint AP, as ``ktn evaluate`` does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import typer
from scipy import ndimage

from ktn_model.data.part_masks import decode_part_masks
from ktn_model.data.synthetic import generate
from ktn_model.evaluation import encode_iuv, evaluate_densepose
from ktn_model.evaluation.matching import MAX_DETS

FINE_OF_COARSE = np.array([0, 2, 3, 4, 5, 6, 9, 10, 13, 14, 15, 16, 19, 20, 23])
POOL_SIZE = 64


def person_iuv(ann: dict, bbox: list[float], u_shift: int) -> np.ndarray:
    """IUV for ``bbox``: fine labels from the GT coarse masks, the GT points painted on top."""
    x, y, w, h = bbox
    iuv = np.full((3, max(int(h), 1), max(int(w), 1)), 128, dtype=np.uint8)
    if "dp_masks" not in ann:
        return iuv
    labels = decode_part_masks(ann["dp_masks"])
    zoom = (iuv.shape[1] / labels.shape[0], iuv.shape[2] / labels.shape[1])
    iuv[0] = FINE_OF_COARSE[ndimage.zoom(labels, zoom, order=0)[: iuv.shape[1], : iuv.shape[2]].astype(int)]
    gx, gy, gw, gh = ann["bbox"]
    px = np.trunc(np.asarray(ann["dp_x"]) * gw / 255 + gx - x).astype(int)
    py = np.trunc(np.asarray(ann["dp_y"]) * gh / 255 + gy - y).astype(int)
    inside = (px >= 0) & (py >= 0) & (px < iuv.shape[2]) & (py < iuv.shape[1])
    u8 = np.clip(np.round(np.asarray(ann["dp_U"]) * 255) + u_shift, 0, 255)
    v8 = np.round(np.asarray(ann["dp_V"]) * 255)
    iuv[:, py[inside], px[inside]] = np.stack([np.asarray(ann["dp_I"]), u8, v8])[:, inside]
    return iuv


def smooth_iuv(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A model-like IUV: part labels in 4×4 blocks (0 = background), U and V as ramps."""
    blocks = rng.integers(0, 25, (4, 4))
    iuv = np.empty((3, height, width), dtype=np.uint8)
    iuv[0] = blocks[np.arange(height) * 4 // height][:, np.arange(width) * 4 // width]
    iuv[1] = np.linspace(0, 255, width).astype(np.uint8)[None, :]
    iuv[2] = np.linspace(0, 255, height).astype(np.uint8)[:, None]
    return iuv


def detection(ann: dict, bbox: list[float], score: float, iuv: np.ndarray, png: str | None = None) -> dict:
    return {
        "image_id": ann["image_id"],
        "category_id": 1,
        "bbox": bbox,
        "score": score,
        "densepose": [[list(iuv.shape), png or encode_iuv(iuv)], bbox],
        "keypoints": ann["keypoints"],
    }


def build_results(gt: dict, rng: np.random.Generator) -> list[dict]:
    """Up to ``MAX_DETS`` detections per image around the GT persons (see the module docstring)."""
    pool = []
    for _ in range(POOL_SIZE):
        iuv = smooth_iuv(rng, int(rng.integers(20, 160)), int(rng.integers(10, 80)))
        pool.append((iuv, encode_iuv(iuv)))
    by_image: dict[int, list[dict]] = {}
    for ann in gt["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    results = []
    for image in gt["images"]:
        persons = [a for a in by_image.get(image["id"], []) if not a["iscrowd"]]
        for k, ann in enumerate(persons):
            bbox = [float(c + rng.integers(-1, 2)) for c in ann["bbox"][:2]] + [float(c) for c in ann["bbox"][2:]]
            results.append(detection(ann, bbox, float(rng.uniform(0.5, 1)), person_iuv(ann, bbox, 20 * (k % 3 == 2))))
        for _ in range(MAX_DETS - len(persons) if persons else 0):
            ann = persons[int(rng.integers(len(persons)))]
            iuv, png = pool[int(rng.integers(POOL_SIZE))]
            x, y, w, h = ann["bbox"]
            height, width = iuv.shape[1:]
            cx, cy = x + rng.uniform(0, w), y + rng.uniform(0, h)
            bbox = [float(cx - width / 2), float(cy - height / 2), float(width), float(height)]
            results.append(detection(ann, bbox, float(rng.uniform(0, 0.6)), iuv, png))
    return results


def main(images: int = typer.Option(1508, help="Synthetic images (DensePose-COCO minival has 1508)."),
         seed: int = typer.Option(0, help="Seed of the synthetic set and the detections."),
         work: Path = typer.Option(Path("output/bench_eval"), help="Folder for the generated set (reused).")) -> None:
    """Time the official GPS / GPSm / keypoint evaluation on a minival-sized synthetic set."""
    data_dir = work / f"synth_{images}_{seed}"
    gt_path = data_dir / "annotations.json"
    if not gt_path.is_file():
        start = time.perf_counter()
        generate(data_dir, images, seed)
        print(f"generated {images} synthetic images in {time.perf_counter() - start:.1f} s", flush=True)
    gt = json.loads(gt_path.read_text())
    results_path = data_dir / "results.json"
    results = build_results(gt, np.random.default_rng(seed))
    results_path.write_text(json.dumps(results))
    persons = sum(1 for a in gt["annotations"] if not a["iscrowd"])
    print(f"{len(gt['images'])} images, {persons} persons, {len(results)} detections", flush=True)
    start = time.perf_counter()
    metrics = evaluate_densepose(gt_path, results_path, data_dir / "eval_data")
    elapsed = time.perf_counter() - start
    for section, values in metrics.items():
        print(f"{section:15s} " + " ".join(f"{k}={v:.1f}" for k, v in values.items()))
    print(f"evaluate_densepose: {elapsed:.1f} s")


if __name__ == "__main__":
    typer.run(main)
