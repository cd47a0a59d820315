"""Result files built from a synthetic ground truth, for the evaluator's checks and ``benchmarks/eval_speed.py``.

``build_results``: per person a detection whose box is the GT box with ±1 px jitter and whose IUV paints the
coarse-part mask and the GT points (U shifted on every third person), then false positives around the persons
up to 20 per image, taken from a small pool of blocky IUV arrays. ``perturb`` makes a scene harder for the
checks against ``reference_eval.py``: ignore regions, persons without DensePose, left/right-swapped and
duplicated detections, jittered keypoints.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ktn_model.data.meta import POINT_LABEL_SYMMETRIES
from ktn_model.data.part_masks import decode_part_masks
from ktn_model.evaluation import decode_iuv, encode_iuv
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


def _swapped(det: dict, rng: np.random.Generator) -> dict:
    """The detection with its patch labels mirrored (left <-> right) and a lower score."""
    iuv = decode_iuv(det["densepose"][0][1])
    mirror = np.asarray(POINT_LABEL_SYMMETRIES, dtype=np.uint8)
    iuv[0] = np.where(iuv[0] < len(mirror), mirror[np.minimum(iuv[0], len(mirror) - 1)], iuv[0])
    return {**det, "score": float(det["score"] * rng.uniform(0.5, 1.0)), "densepose": [[list(iuv.shape),
            encode_iuv(iuv)], det["bbox"]]}  # fmt: skip


def perturb(gt: dict, results: list[dict], rng: np.random.Generator) -> tuple[dict, list[dict]]:
    """A harder scene from ``gt`` and ``results`` (see the module docstring); both are copied."""
    images = [dict(image) for image in gt["images"]]
    for image in images[:: 3]:  # an ignore region over the right third of every third image
        x0, x1, y1 = 2 * image["width"] // 3, image["width"] - 1, image["height"] - 1
        image["ignore_regions_x"], image["ignore_regions_y"] = [[x0, x1, x1, x0]], [[0, 0, y1, y1]]
    dp_keys = ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V", "dp_masks")
    annotations = [{k: v for k, v in ann.items() if not (k in dp_keys and i % 7 == 3)}
                   for i, ann in enumerate(gt["annotations"])]  # fmt: skip
    out = []
    for det in results:
        det = dict(det)
        det["keypoints"] = [c + float(rng.normal(0, 3)) if j % 3 != 2 else c for j, c in enumerate(det["keypoints"])]
        out.append(det)
        draw = rng.uniform()
        if det["score"] >= 0.5 and draw < 0.3:
            out.append(_swapped(det, rng))
        elif det["score"] >= 0.5 and draw < 0.45:
            out.append({**det, "score": det["score"]})  # a duplicate with the same score (ties)
    return {**gt, "images": images, "annotations": annotations}, out
