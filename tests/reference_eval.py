"""The GPS / GPSm / keypoint protocol of docs/densepose_format.md ("Evaluation protocol"), written as literally
as possible and without regard for speed: the formula implementation that ``ktn_model.evaluation`` is checked
against (``tests/test_eval_speed.py``) and the baseline of ``benchmarks/eval_speed.py``.

It works like the released evaluator: both files are loaded whole; GPS and GPSm are two passes over the images;
per (detection, GT) pair the detection's PNG is decoded, every GT point inside it gets its closest vertex by a
search over all vertices of its part, and each geodesic distance is looked up in a Python loop; GPSm adds the
IoU of every pair's full-image masks (pycocotools' RLE IoU); matching, accumulation and summary are the
per-detection loops of the protocol text. Keypoint AP is pycocotools' ``COCOeval``.

    python tests/reference_eval.py GT_JSON RESULTS_JSON EVAL_DATA_DIR [--out METRICS_JSON]   # else printed
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy import ndimage

from ktn_utils.safe_pickle import RestrictedUnpickler

KAPPA_OF_GROUP = [0.0, 0.351, 0.107, 0.126, 0.237, 0.173, 0.142, 0.128, 0.150]
GROUP_OF_PATCH = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8]
THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
AREAS = [(0.0, 1e10), (32.0**2, 96.0**2), (96.0**2, 1e10)]
NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


class Mesh:
    def __init__(self, directory: Path):
        subdiv = scipy.io.loadmat(directory / "SMPL_subdiv.mat")
        self.u, self.v = subdiv["U_subdiv"].ravel(), subdiv["V_subdiv"].ravel()
        self.part = subdiv["Part_ID_subdiv"].ravel()
        self.mesh_id = scipy.io.loadmat(directory / "SMPL_SUBDIV_TRANSFORM.mat")["index"].ravel()
        with open(directory / "Pdist_matrix.pkl", "rb") as f:
            self.pdist = np.asarray(RestrictedUnpickler(f, encoding="latin1").load()["Pdist_matrix"]).ravel()

    def closest(self, part: int, u: float, v: float) -> int:
        """1-based mesh vertex of the subdivided vertex of ``part`` nearest to (u, v); 0 when none."""
        if not 1 <= part <= 24:
            return 0
        candidates = np.flatnonzero(self.part == part)
        if not len(candidates):
            return 0
        dist = np.sqrt((self.u[candidates] - u) ** 2 + (self.v[candidates] - v) ** 2)
        return int(self.mesh_id[candidates[np.argmin(dist)]])

    def distance(self, a: int, b: int) -> float:
        if b == 0:
            return math.inf
        if a == b:
            return 0.0
        lo, hi = min(a, b) - 1, max(a, b) - 1
        return float(self.pdist[hi * (hi - 1) // 2 + lo])


def decode(det: dict) -> np.ndarray:
    (shape, data), _ = det["densepose"]
    with Image.open(io.BytesIO(base64.decodebytes(data.encode()))) as image:
        return np.moveaxis(np.array(image), -1, 0).reshape(shape)


def gps(mesh: Mesh, gt: dict, det: dict) -> float:
    gx, gy, gw, gh = gt["bbox"]
    dx, dy, dw, dh = det["bbox"]
    distances, kappas, iuv = [], [], None
    for x, y, part, u, v in zip(gt["dp_x"], gt["dp_y"], gt["dp_I"], gt["dp_U"], gt["dp_V"], strict=True):
        vertex = mesh.closest(int(part) if part == int(part) else 0, u, v)
        if vertex == 0:
            continue  # a GT point without a vertex is not in P
        px, py = int(x * gw / 255.0 + gx - dx), int(y * gh / 255.0 + gy - dy)
        predicted = 0
        if 0 <= px < int(dw) and 0 <= py < int(dh):
            iuv = decode(det) if iuv is None else iuv
            i, pu, pv = (int(c) for c in iuv[:, py, px])
            predicted = mesh.closest(i, pu / 255.0, pv / 255.0)
        distances.append(mesh.distance(vertex, predicted))
        kappas.append(KAPPA_OF_GROUP[GROUP_OF_PATCH[int(part)]])
    if not distances:
        return 0.0
    terms = np.exp(-(np.array(distances) ** 2) / (2 * np.array(kappas) ** 2))  # one array: numpy's exp, as ours
    return float(np.sum(terms) / len(terms))


def full_mask(local: np.ndarray | None, bbox: list, height: int, width: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=np.uint8)
    if local is not None:
        x, y, w, h = bbox
        x0, y0 = max(int(x), 0), max(int(y), 0)
        x1 = min(int(x + w), width, int(x) + local.shape[1])
        y1 = min(int(y + h), height, int(y) + local.shape[0])
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = local[y0 - int(y) : y1 - int(y), x0 - int(x) : x1 - int(x)] > 0
    return out


def gt_full_mask(coco: COCO, gt: dict, height: int, width: int) -> np.ndarray:
    if "dp_masks" in gt:
        labels = np.zeros((256, 256))
        for k, rle in enumerate(gt["dp_masks"][:14], start=1):
            if rle:
                labels[mask_utils.decode(rle) > 0] = k
        _, _, w, h = gt["bbox"]
        zoomed = ndimage.zoom(labels, (max(h, 1) / 256, max(w, 1) / 256), order=1, prefilter=False)
        return full_mask(zoomed > 0.5, gt["bbox"], height, width)
    if gt.get("segmentation"):
        return coco.annToMask(gt)
    return full_mask(None, gt["bbox"], height, width)


def mask_iou(a: np.ndarray, b: np.ndarray, crowd: bool) -> float:
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in (a, b)]
    return float(mask_utils.iou(rles[:1], rles[1:], [int(crowd)])[0][0])


def region_keeps(region: np.ndarray | None, det: dict, foreground: np.ndarray | None) -> bool:
    if region is None:
        return True
    x, y, w, h = (int(c) for c in det["bbox"])
    if w * h == 0:
        return False
    crop = region[y : min(y + h, region.shape[0]), x : min(x + w, region.shape[1])]
    if crop.sum() == 0:
        return True
    if foreground is None:
        return crop.sum() / w / h < 0.7
    return mask_iou((foreground > 0).astype(np.uint8), crop, True) < 0.9


def match(sims, box_ious, gts, dts, area) -> dict | None:
    """One image, one area range: the protocol's matching steps 1-4 as loops."""
    if not gts and not dts:
        return None
    ignore = [g["_ignore"] or not area[0] <= g["area"] <= area[1] for g in gts]
    order = sorted(range(len(gts)), key=lambda g: ignore[g])
    num_t = len(THRESHOLDS)
    gt_hit = np.zeros((num_t, len(gts)), bool)
    dt_hit = np.zeros((num_t, len(dts)), bool)
    dt_ignore = np.full((num_t, len(dts)), all(ignore))
    for t, thr in enumerate(THRESHOLDS):
        for d in range(len(dts)):
            best, m = min(thr, 1 - 1e-10), -1
            for g in order:
                if gt_hit[t, g] and not gts[g].get("iscrowd", 0):
                    continue
                if m > -1 and not ignore[m] and ignore[g]:
                    break
                if sims[d][g] >= best:
                    best, m = sims[d][g], g
            if m > -1:
                dt_ignore[t, d], dt_hit[t, d], gt_hit[t, m] = ignore[m], True, True
    for d in range(len(dts)):
        if dt_hit[-1, d]:
            continue
        best, m = 0.8, -1
        for g in order:
            if gt_hit[-1, g] and not gts[g].get("iscrowd", 0):
                continue
            if box_ious[d][g] >= best:
                best, m = box_ious[d][g], g
        if m > -1:
            dt_ignore[:, d] = ignore[m]
            if ignore[m]:
                dt_hit[-1, d] = gt_hit[-1, m] = True
    for d, det in enumerate(dts):
        outside = not area[0] <= det["bbox"][2] * det["bbox"][3] <= area[1]
        for t in range(num_t):
            if not dt_hit[t, d] and outside:
                dt_ignore[t, d] = True
    return {"scores": [d["score"] for d in dts], "hit": dt_hit, "ignore": dt_ignore,
            "counted": sum(1 for g in ignore if not g)}  # fmt: skip


def summarize(per_area: list[list]) -> dict[str, float]:
    precision, recall = [], []
    for images in per_area:
        images = [m for m in images if m is not None]
        num_gt = sum(m["counted"] for m in images)
        if not num_gt:
            precision.append(-np.ones((10, 101)))
            recall.append(-np.ones(10))
            continue
        scores = np.concatenate([m["scores"] for m in images])
        order = np.argsort(-scores, kind="mergesort")
        hit = np.concatenate([m["hit"] for m in images], axis=1)[:, order]
        ign = np.concatenate([m["ignore"] for m in images], axis=1)[:, order]
        p_area, r_area = np.zeros((10, 101)), np.zeros(10)
        for t in range(10):
            tp = np.cumsum(hit[t] & ~ign[t]).astype(float)
            fp = np.cumsum(~hit[t] & ~ign[t]).astype(float)
            if not len(tp):
                continue
            rc, pr = tp / num_gt, list(tp / (fp + tp + np.spacing(1)))
            r_area[t] = rc[-1]
            for i in range(len(pr) - 1, 0, -1):
                pr[i - 1] = max(pr[i - 1], pr[i])
            for r, i in enumerate(np.searchsorted(rc, RECALL_POINTS, side="left")):
                if i < len(pr):
                    p_area[t, r] = pr[i]
        precision.append(p_area)
        recall.append(r_area)

    def mean(values):
        valid = values[values > -1]
        return 100.0 * float(np.mean(valid)) if valid.size else -100.0

    return dict(zip(NAMES, [mean(precision[0]), mean(precision[0][0]), mean(precision[0][5]), mean(precision[1]),
                            mean(precision[2]), mean(recall[0]), mean(recall[0][:1]), mean(recall[0][5:6]),
                            mean(recall[1]), mean(recall[2])], strict=True))  # fmt: skip


def image_scene(coco: COCO, results: list[dict], image_id: int) -> tuple[list[dict], list[dict]]:
    """The image's persons and its 20 best detections, after its ignore regions."""
    image = coco.imgs[image_id]
    region = None
    if image.get("ignore_regions_x"):
        polygons = [[c for xy in zip(px, py, strict=True) for c in xy]
                    for px, py in zip(image["ignore_regions_x"], image["ignore_regions_y"], strict=True)]
        region = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, image["height"],
                                                                           image["width"])))  # fmt: skip
    gts = [g for g in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=[1])) if region_keeps(region, g, None)]
    dts = [d for d in results if d["image_id"] == image_id and region_keeps(region, d, None if region is None
                                                                            else decode(d)[0])]  # fmt: skip
    for g in gts:
        g["_ignore"] = "dp_x" not in g
    return gts, [dts[i] for i in np.argsort([-d["score"] for d in dts], kind="mergesort")[:20]]


def mask_ious(coco: COCO, gts: list[dict], dts: list[dict], height: int, width: int) -> list[list[float]]:
    """(D, G) IoU of the full-image person masks, every pair."""
    gt_masks = [gt_full_mask(coco, g, height, width) for g in gts]
    return [[mask_iou(full_mask(decode(d)[0], d["bbox"], height, width), m, bool(g.get("iscrowd", 0)))
             for g, m in zip(gts, gt_masks, strict=True)] for d in dts]  # fmt: skip


def evaluate(gt_path, results_path, eval_dir) -> dict[str, dict[str, float]]:
    """GPS, then GPSm, each a whole pass over the images as the released evaluator runs them, and keypoint AP."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_path))
    results = [r for r in json.loads(Path(results_path).read_text()) if r["category_id"] == 1]
    mesh = Mesh(Path(eval_dir))
    modes = {"densepose_gps": [[], [], []], "densepose_gpsm": [[], [], []]}
    for name, per_area in modes.items():
        for image_id in sorted(coco.getImgIds()):
            gts, dts = image_scene(coco, results, image_id)
            sims = [[0.0 if g["_ignore"] else gps(mesh, g, d) for g in gts] for d in dts]
            if name == "densepose_gpsm":
                image = coco.imgs[image_id]
                ious = mask_ious(coco, gts, dts, image["height"], image["width"])
                sims = [[math.sqrt(s * i) for s, i in zip(row, iou_row, strict=True)]
                        for row, iou_row in zip(sims, ious, strict=True)]  # fmt: skip
            crowd = [int(g.get("iscrowd", 0)) for g in gts]
            box_ious = mask_utils.iou([d["bbox"] for d in dts], [g["bbox"] for g in gts], crowd) if dts and gts else []
            for a, area in enumerate(AREAS):
                per_area[a].append(match(sims, box_ious, gts, dts, area))
    metrics = {name: summarize(per_area) for name, per_area in modes.items()}
    if results and "keypoints" in results[0]:
        with contextlib.redirect_stdout(io.StringIO()):
            kp = COCOeval(coco, coco.loadRes([{k: r[k] for k in ("image_id", "category_id", "bbox", "score",
                                                                   "keypoints")} for r in results]), "keypoints")
            kp.evaluate()
            kp.accumulate()
            kp.summarize()
        metrics["keypoints"] = {n: 100.0 * float(v) for n, v in zip(NAMES, kp.stats, strict=True)}
    return metrics


if __name__ == "__main__":
    text = json.dumps(evaluate(*sys.argv[1:4]), indent=2) + "\n"
    if sys.argv[4:5] == ["--out"]:
        Path(sys.argv[5]).write_text(text)
    else:
        print(text, end="")
