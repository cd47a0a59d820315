"""Dense pseudo-labels of a teacher (``ktn inpaint``) and the training targets they add (docs/other_systems.md,
"Teacher inpainting" and "Pseudo-label file").

A pseudo-label file holds, for every DensePose-annotated person of one annotation json, a G × G grid over the
person's box (the 256 × 256 frame of ``dp_x``/``dp_y`` at cell centres) with [I, U·255, V·255] uint8 per cell:
I = 0 where there is no label (outside the person mask, or the teacher below its threshold), the annotation's
own values in every cell that holds an annotated point. A training set named with such a file gets
``dp_pseudo``: per person a (Q, 5) float32 tensor [x, y, I, U, V] in the box frame, one row per labelled cell
that holds no annotated point (the annotated points stay in ``dp_points``, never overridden).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ktn_model.data.coco_json import read_json
from ktn_model.data.dataset import ImageRecord, annotations_to_target, has_densepose
from ktn_model.data.meta import DP_FRAME, NUM_PATCHES
from ktn_utils.atomic import atomic_write

FORMAT = "ktn-dense-pseudo-labels"
VERSION = 1


def encode_grid(iuv: np.ndarray) -> str:
    """(3, G, G) uint8 [I, U·255, V·255] -> base64 of the zlib-compressed C-order bytes."""
    if iuv.dtype != np.uint8 or iuv.ndim != 3 or iuv.shape[0] != 3 or iuv.shape[1] != iuv.shape[2]:
        raise ValueError(f"a pseudo-label grid is uint8 (3, G, G), got {iuv.dtype} {iuv.shape}")
    return base64.b64encode(zlib.compress(np.ascontiguousarray(iuv).tobytes(), 9)).decode("ascii")


def decode_grid(data: str, grid: int) -> np.ndarray:
    """The inverse of ``encode_grid``: (3, grid, grid) uint8; ValueError when malformed or I > 24."""
    try:
        raw = zlib.decompress(base64.b64decode(data.encode("ascii"), validate=True))
    except (binascii.Error, zlib.error, UnicodeEncodeError, AttributeError) as e:
        raise ValueError(f"not base64 of zlib data ({e})") from None
    if len(raw) != 3 * grid * grid:
        raise ValueError(f"{len(raw)} bytes, expected 3 × {grid} × {grid}")
    iuv = np.frombuffer(raw, np.uint8).reshape(3, grid, grid)
    if iuv[0].max() > NUM_PATCHES:
        raise ValueError(f"patch index {int(iuv[0].max())} above {NUM_PATCHES}")
    return iuv


def cell_of(coord: np.ndarray, grid: int) -> np.ndarray:
    """Box-frame coordinates in [0, 256] -> the index of the grid cell holding them (the last cell holds 256)."""
    return np.clip(np.floor(np.asarray(coord, np.float64) * grid / DP_FRAME), 0, grid - 1).astype(np.int64)


def cell_centres(grid: int) -> np.ndarray:
    """(grid,) box-frame coordinates of the cell centres."""
    return (np.arange(grid) + 0.5) * DP_FRAME / grid


def write_pseudo_labels(path: Path, grids: dict[int, dict[int, str]], grid: int, provenance: dict) -> Path:
    """Write the file atomically: ``grids`` {image_id: {annotation_id: encoded grid}}, every image listed."""
    data = {"format": FORMAT, "version": VERSION, "grid": grid, "provenance": provenance,
            "images": sorted(grids),
            "annotations": [{"id": a, "image_id": i, "dp_dense": code}
                            for i in sorted(grids) for a, code in sorted(grids[i].items())]}
    return atomic_write(path, lambda f: f.write(json.dumps(data, separators=(",", ":")).encode()))


class PseudoLabels:
    """A read and checked pseudo-label file: ``grid``, ``provenance``, ``images`` (set of image ids) and the
    encoded grid of each annotation id (``by_annotation``), with its image id (``image_of``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        data = read_json(self.path, "pseudo-label file")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not a pseudo-label file of `ktn inpaint` (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise ValueError(f"{self.path}: pseudo-label file version {data.get('version')!r}, this code reads "
                             f"{VERSION}")
        try:
            self.grid = int(data["grid"])
            self.provenance = dict(data.get("provenance", {}))
            self.images = {int(i) for i in data["images"]}
            self.by_annotation = {int(a["id"]): str(a["dp_dense"]) for a in data["annotations"]}
            self.image_of = {int(a["id"]): int(a["image_id"]) for a in data["annotations"]}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{self.path}: malformed pseudo-label file ({type(e).__name__}: {e})") from None

    def points(self, annotation_id: int, annotated: torch.Tensor) -> torch.Tensor:
        """(Q, 5) [x, y, I, U, V] at the centres of the labelled cells of one person, except the cells that hold
        one of its ``annotated`` points ((P, 5), box frame)."""
        try:
            iuv = decode_grid(self.by_annotation[annotation_id], self.grid)
        except ValueError as e:
            raise ValueError(f"{self.path}: annotation {annotation_id}: {e}") from None
        free = iuv[0] > 0
        pts = annotated.numpy()
        free[cell_of(pts[:, 1], self.grid), cell_of(pts[:, 0], self.grid)] = False
        rows, cols = np.nonzero(free)
        centre = cell_centres(self.grid)
        values = iuv[:, rows, cols].astype(np.float32)
        return torch.from_numpy(np.stack([centre[cols], centre[rows], values[0], values[1] / 255, values[2] / 255],
                                         axis=1).astype(np.float32).reshape(-1, 5))


def _no_masks(ann: dict) -> np.ndarray:
    return np.zeros((DP_FRAME, DP_FRAME), np.uint8)


def target_persons(record: ImageRecord) -> list[dict]:
    """The json annotations of a target's persons, row by row: ``annotations_to_target``'s own person filter,
    applied to one annotation at a time (without decoding masks)."""
    return [a for a in record.annotations
            if len(annotations_to_target([a], record.image_id, record.height, record.width, _no_masks)["boxes"])]


def check_matches(labels: PseudoLabels, dataset, name: str) -> None:
    """A ValueError (one line) unless ``labels`` were made from this dataset's annotations: every image of the
    dataset is in the file and, image by image, the file's persons are the dataset's DensePose persons."""
    records = dataset.records
    missing = [r.image_id for r in records if r.image_id not in labels.images]
    made_from = labels.provenance.get("annotations", "?")
    if missing:
        raise ValueError(f"{labels.path}: pseudo-labels of other annotations ({made_from}): {len(missing)} image ids "
                         f"of dataset {name!r} are not in it (first {missing[:3]})")
    expected = {int(a["id"]): r.image_id for r in records for a in target_persons(r) if has_densepose(a)}
    wanted = {a: i for a, i in labels.image_of.items() if i in {r.image_id for r in records}}
    if wanted != expected:
        diff = sorted(set(wanted.items()) ^ set(expected.items()))[:3]
        raise ValueError(f"{labels.path}: pseudo-labels of other annotations ({made_from}): the DensePose persons of "
                         f"dataset {name!r} differ from the file's (annotation id, image id), e.g. {diff}")


class PseudoLabelledDataset(Dataset):
    """A dataset whose targets also carry ``dp_pseudo`` from ``labels`` (checked against it on construction), or
    no pseudo-labelled point at all with ``labels`` None (a set without a file, beside one with)."""

    def __init__(self, dataset, labels: PseudoLabels | None, name: str):
        if labels is not None:
            check_matches(labels, dataset, name)
        self.dataset, self.labels = dataset, labels
        self.spec, self.records = dataset.spec, dataset.records

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, target = self.dataset[index]
        return image, self.add_pseudo_labels(index, target)

    def add_pseudo_labels(self, index: int, target: dict) -> dict:
        ids = [int(a["id"]) for a in target_persons(self.records[index])]
        known = self.labels.by_annotation if self.labels is not None else {}
        pseudo = [self.labels.points(a, p) if a in known else torch.zeros((0, 5))
                  for a, p in zip(ids, target["dp_points"], strict=True)]
        return {**target, "dp_pseudo": pseudo}


def attach_pseudo_labels(datasets: list, names: list[str], files: list[str]) -> list:
    """``datasets`` (one per DATASETS.TRAIN name) with the pseudo-labels of DATASETS.TRAIN_PSEUDO_LABELS
    (one file or "" per set; [] = none): then every set's targets carry ``dp_pseudo``, empty for a set without."""
    if not files:
        return datasets
    if len(files) != len(datasets):
        raise ValueError(f"DATASETS.TRAIN_PSEUDO_LABELS has {len(files)} entries, DATASETS.TRAIN {len(datasets)}: "
                         f"give one file (or \"\") per training set")
    return [PseudoLabelledDataset(d, PseudoLabels(f) if f else None, n)
            for d, n, f in zip(datasets, names, files, strict=True)]
