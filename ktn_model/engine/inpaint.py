"""Teacher inpainting (docs/other_systems.md, "Teacher inpainting"): a trained model predicts, inside every
annotated person's mask, dense pseudo-labels that a student then trains on (``DATASETS.TRAIN_PSEUDO_LABELS``).

The teacher runs on each image at its test size with the persons' ground-truth boxes as the RoIs (no detection),
so each person gets its own I, U, V maps in its box frame; they are read at the centres of a G × G grid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ktn_model.data.catalog import DatasetSpec, build_dataset
from ktn_model.data.coco_json import read_json
from ktn_model.data.dataset import has_densepose
from ktn_model.data.meta import DP_FRAME
from ktn_model.data.pseudo_labels import cell_centres, cell_of, encode_grid, target_persons, write_pseudo_labels
from ktn_model.engine.predictor import build_trained_model, load_config
from ktn_model.modeling.ktn import KTN

DEFAULT_GRID = 64
DEFAULT_MIN_PROBABILITY = 0.5


@dataclass(frozen=True)
class InpaintSummary:
    """What ``inpaint`` wrote: the file, the persons and images, and the share of the in-mask cells without an
    annotated point that the teacher labelled."""

    out: Path
    persons: int
    images: int
    labelled: float


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def teacher_grid(i_logits: np.ndarray, u: np.ndarray, v: np.ndarray, mask: np.ndarray, points: np.ndarray,
                 min_probability: float) -> np.ndarray:
    """One person's pseudo-label grid (3, G, G) uint8 [I, U·255, V·255] from the teacher's maps at the cell
    centres: i_logits (25, G, G), u and v (25, G, G), the person mask (G, G) bool, the annotated points (P, 5)
    [x, y, I, U, V] in the box frame.

    Inside the mask, I is the teacher's argmax over the 24 patches (the mask rules out the background) where that
    patch's probability among them is at least ``min_probability``, with the teacher's U, V of that patch; 0
    elsewhere. Every cell that holds an annotated point takes the annotation (the last point in json order).
    """
    patches = i_logits[1:] - i_logits[1:].max(0)  # (24, G, G), stable softmax over the patches
    prob = np.exp(patches) / np.exp(patches).sum(0)
    labels = (prob.argmax(0) + 1) * (mask & (prob.max(0) >= min_probability))  # (G, G) int64
    u_at = np.take_along_axis(u, labels[None], 0)[0]
    v_at = np.take_along_axis(v, labels[None], 0)[0]
    grid = np.stack([labels, *(np.floor(np.clip(t, 0, 1) * 255) * (labels > 0) for t in (u_at, v_at))])
    rows, cols = cell_of(points[:, 1], labels.shape[0]), cell_of(points[:, 0], labels.shape[0])
    grid[:, rows, cols] = np.stack([points[:, 2], np.floor(np.clip(points[:, 3], 0, 1) * 255),
                                    np.floor(np.clip(points[:, 4], 0, 1) * 255)])
    return grid.astype(np.uint8)


def mask_at_cells(s_gt: torch.Tensor, grid: int) -> np.ndarray:
    """S_gt (256, 256) -> (G, G) bool: the person mask (any part) at the cell centres."""
    index = np.minimum(np.floor(cell_centres(grid)).astype(np.int64), DP_FRAME - 1)
    return (s_gt.numpy()[np.ix_(index, index)] > 0)


@torch.no_grad()
def teacher_maps(model: KTN, image: torch.Tensor, boxes: torch.Tensor, grid: int) -> tuple[torch.Tensor, ...]:
    """The teacher's I logits, U and V for ``boxes`` (n, 4) of ``image`` (3, H, W), each (n, 25, G, G) at the
    cell centres (bilinear, align_corners=False: the maps' cells and the grid's share the box)."""
    device = next(model.parameters()).device
    images, targets = model.transform([image.to(device)], [{"boxes": boxes.to(device)}])
    features = model.backbone(images.tensors)
    out, _ = model.roi_heads.densepose(features, [targets[0]["boxes"]], images.image_sizes)
    return tuple(F.interpolate(t.float(), size=(grid, grid), mode="bilinear", align_corners=False).cpu()
                 for t in (out.I, out.U, out.V))


def check_annotations(path: Path) -> None:
    """A ValueError naming ``path`` when a person has DensePose points without the masks that bound the inpainting,
    or no person has both (before the dataset's own checks, which would only say that DensePose is missing)."""
    data = read_json(path, "annotation file")
    anns = data.get("annotations") if isinstance(data, dict) else None
    anns = anns if isinstance(anns, list) else []
    unmasked = next((a for a in anns if isinstance(a, dict) and "dp_I" in a and "dp_masks" not in a), None)
    if unmasked is not None:
        raise ValueError(f"{path}: annotation {unmasked.get('id')} has DensePose points but no dp_masks: "
                         f"inpainting needs the person masks")
    if not any(isinstance(a, dict) and has_densepose(a) for a in anns):
        raise ValueError(f"{path}: no annotation has DensePose points with dp_masks: nothing to inpaint")


def inpaint(weights: Path, annotations: Path, images: Path, out: Path, config_file: Path | None = None,
            opts: list[str] | None = None, grid: int = DEFAULT_GRID,
            min_probability: float = DEFAULT_MIN_PROBABILITY) -> InpaintSummary:
    """Write ``out`` (atomically, never over an existing file): the teacher ``weights``' pseudo-labels for every
    DensePose person of ``annotations`` (images in ``images``), with provenance."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; ktn inpaint does not overwrite (choose another --out)")
    if not 1 <= grid <= DP_FRAME:
        raise ValueError(f"--grid must be in 1..{DP_FRAME}, got {grid}")
    if not 0.0 <= min_probability <= 1.0:
        raise ValueError(f"--min-probability must be in [0, 1], got {min_probability}")
    spec = DatasetSpec(str(annotations), Path(annotations), Path(images))
    if not spec.image_dir.is_dir():
        raise FileNotFoundError(f"{spec.image_dir}: image directory not found (--images)")
    check_annotations(spec.json_file)
    dataset = build_dataset(spec, train=False)
    cfg = load_config(weights, config_file, opts)
    model = build_trained_model(cfg, weights).eval()
    grids: dict[int, dict[int, str]] = {}
    inside = labelled = 0
    for index, record in enumerate(dataset.records):
        grids[record.image_id] = {}
        target = dataset.target(index)
        ids = [int(a["id"]) for a in target_persons(record)]
        rows = torch.where(target["dp_valid"])[0].tolist()
        if not rows:
            continue
        image = dataset[index][0]
        maps = [t.numpy() for t in teacher_maps(model, image, target["boxes"][rows], grid)]
        for k, row in enumerate(rows):
            mask = mask_at_cells(target["dp_masks"][row], grid)
            points = target["dp_points"][row].numpy()
            iuv = teacher_grid(maps[0][k], maps[1][k], maps[2][k], mask, points, min_probability)
            free = mask.copy()
            free[cell_of(points[:, 1], grid), cell_of(points[:, 0], grid)] = False  # the annotations' own cells
            inside, labelled = inside + int(free.sum()), labelled + int((iuv[0] > 0)[free].sum())
            grids[record.image_id][ids[row]] = encode_grid(iuv)
    provenance = {"tool": "ktn inpaint", "teacher": str(weights), "teacher_sha256": sha256_of(Path(weights)),
                  "teacher_densepose": f"{cfg.MODEL.ROI_DENSEPOSE_HEAD.NAME} + "
                                       f"{cfg.MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME}",
                  "annotations": str(annotations), "annotations_sha256": sha256_of(Path(annotations)),
                  "thresholds": {"min_patch_probability": min_probability}, "grid": grid}
    write_pseudo_labels(out, grids, grid, provenance)
    persons = sum(len(g) for g in grids.values())
    return InpaintSummary(out, persons, len(grids), labelled / max(inside, 1))
