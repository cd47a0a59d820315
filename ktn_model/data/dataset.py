"""DensePose-COCO as a torch dataset producing CONTRIBUTING's dataset -> model interface: the
``densepose_coco`` dataset format (``ktn_model.data.catalog.DATASET_FORMATS``).

The annotation rules (required fields, crowds, box clipping, the keypoint +0.5, the training image
filter) are described in ``docs/usage.md``, section "Annotation files".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ktn_model.data.catalog import DATASET_FORMATS, DatasetSpec
from ktn_model.data.coco_json import load_coco
from ktn_model.data.meta import DP_FRAME, DP_KEYS, DP_POINT_KEYS, KEYPOINT_OFFSET, NUM_KEYPOINTS
from ktn_model.data.part_masks import decode_part_masks


class ImageReadError(OSError):
    """An image file that is missing, unreadable or not of the size its json entry says."""


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; ``ImageReadError`` naming the file when it cannot be read."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: not a readable image ({e})") from None


@dataclass(frozen=True)
class ImageRecord:
    """One json image entry with its person annotations (crowds included)."""

    image_id: int
    file_name: Path
    height: int
    width: int
    annotations: list[dict]


def has_densepose(ann: dict) -> bool:
    """The person carries a DensePose annotation: all six ``dp_*`` fields."""
    return all(key in ann for key in DP_KEYS)


def keep_for_training(record: ImageRecord) -> bool:
    """The training image filter: annotations exist and there is a visible keypoint or a person
    with all five point fields plus ``dp_masks`` or ``segmentation``."""
    anns = record.annotations
    visible = sum(int(np.count_nonzero(np.asarray(a.get("keypoints") or [])[2::3] > 0)) for a in anns)
    dense = any(all(k in a for k in DP_POINT_KEYS) and ("dp_masks" in a or "segmentation" in a) for a in anns)
    return bool(anns) and (visible >= 1 or dense)


def _box_xyxy(ann: dict, width: int, height: int) -> np.ndarray:
    x, y, w, h = (float(b) for b in ann["bbox"])
    return np.clip([x, y, x + w, y + h], 0, [width, height, width, height])


def _keypoints(ann: dict) -> np.ndarray:
    """(17, 3) ``[x + 0.5, y + 0.5, v]`` (the +0.5 is added to every entry)."""
    kpts = np.asarray(ann.get("keypoints") or np.zeros(3 * NUM_KEYPOINTS), dtype=np.float32).reshape(-1, 3)
    if kpts.shape[0] != NUM_KEYPOINTS:
        raise ValueError(f"annotation {ann.get('id')}: {kpts.size} keypoint numbers, expected {3 * NUM_KEYPOINTS}")
    kpts[:, :2] += KEYPOINT_OFFSET
    return kpts


def _points(ann: dict) -> np.ndarray:
    """(P, 5) float32 ``[dp_x, dp_y, dp_I, dp_U, dp_V]``."""
    return np.stack([np.asarray(ann[k], dtype=np.float32).reshape(-1) for k in DP_POINT_KEYS], axis=1)


def _part_labels(ann: dict) -> np.ndarray:
    return decode_part_masks(ann["dp_masks"])


def annotations_to_target(anns: list[dict], image_id: int, height: int, width: int,
                          part_labels: Callable[[dict], np.ndarray] = _part_labels) -> dict:  # fmt: skip
    """Json annotations of one image -> the target dict (CONTRIBUTING interface).

    Crowds are dropped, boxes are clipped to the image and empty ones removed; a person without
    DensePose keeps its box and keypoints with ``dp_valid`` False, no points and an all-zero map.
    ``part_labels(ann)`` gives a DensePose person's (256, 256) uint8 S_gt (default: its ``dp_masks`` decoded).
    """
    persons = []
    for ann in anns:
        if ann.get("ignore", 0):
            raise ValueError(f"annotation {ann.get('id')}: 'ignore' is not supported in DensePose-COCO")
        box = _box_xyxy(ann, width, height)
        if not ann.get("iscrowd", 0) and box[2] > box[0] and box[3] > box[1]:
            persons.append((ann, box))
    dense = [has_densepose(ann) for ann, _ in persons]
    masks = [part_labels(ann) if d else np.zeros((DP_FRAME, DP_FRAME), np.uint8)
             for (ann, _), d in zip(persons, dense, strict=True)]  # fmt: skip
    return {
        "boxes": torch.as_tensor(np.array([b for _, b in persons], np.float32).reshape(-1, 4)),
        "labels": torch.ones(len(persons), dtype=torch.int64),
        "keypoints": torch.as_tensor(
            np.array([_keypoints(a) for a, _ in persons], np.float32).reshape(-1, NUM_KEYPOINTS, 3)),
        "dp_valid": torch.as_tensor(dense, dtype=torch.bool).reshape(-1),
        "dp_points": [torch.as_tensor(_points(a)) if d else torch.zeros((0, 5)) for (a, _), d in
                      zip(persons, dense, strict=True)],  # fmt: skip
        "dp_masks": torch.as_tensor(np.array(masks, np.uint8).reshape(-1, DP_FRAME, DP_FRAME)),
        "image_id": torch.tensor(image_id, dtype=torch.int64),
    }


def read_image(path: Path, height: int, width: int) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]; ``ImageReadError`` naming the file when it cannot be used."""
    pixels = read_rgb(path)
    if pixels.shape[:2] != (height, width):
        raise ImageReadError(f"{path}: image is {pixels.shape[1]}x{pixels.shape[0]}, json says {width}x{height}")
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)


def _check_mask_canvas(path: Path, anns: list[dict], canvas: int) -> None:
    """A ValueError naming the file and annotation whose ``dp_masks`` RLEs are not ``canvas`` × ``canvas``."""
    for ann in anns:
        for k, rle in enumerate(ann.get("dp_masks") or (), start=1):
            size = rle.get("size") if isinstance(rle, dict) else None
            if rle and list(size or ()) != [canvas, canvas]:
                raise ValueError(f"{path}: annotation {ann.get('id')}: dp_masks entry {k} has size {size}; this "
                                 f"dataset format reads {canvas}x{canvas} part masks (CONTRIBUTING.md, "
                                 f"\"How to add a dataset format\")")  # fmt: skip


@DATASET_FORMATS.register("densepose_coco")
class DensePoseCocoDataset(torch.utils.data.Dataset):
    """Images of a DensePose-COCO json at original size with their targets (no augmentation).

    ``train=True`` applies the training image filter (``keep_for_training``); test sets keep every
    image. ``dataset[i]`` -> (image (3, H, W) float32, target dict); ``records[i]`` gives sizes.
    ``dp_masks`` RLEs must be ``MASK_CANVAS`` × ``MASK_CANVAS`` (the 256 grid of the box); a format on
    another canvas overrides ``MASK_CANVAS`` and ``part_labels`` (CONTRIBUTING.md, "How to add a dataset format").
    """

    MASK_CANVAS = DP_FRAME

    def __init__(self, spec: DatasetSpec, train: bool = False):
        self.spec = spec
        coco = load_coco(spec.json_file)
        records = []
        for image_id in sorted(coco.getImgIds()):
            info = coco.imgs[image_id]
            anns = [a for a in coco.imgToAnns.get(image_id, []) if a.get("category_id", 1) == 1]
            _check_mask_canvas(spec.json_file, anns, self.MASK_CANVAS)
            records.append(ImageRecord(image_id, spec.image_dir / info["file_name"], int(info["height"]),
                                       int(info["width"]), anns))  # fmt: skip
        self.records = [r for r in records if keep_for_training(r)] if train else records

    def __len__(self) -> int:
        return len(self.records)

    def part_labels(self, ann: dict) -> np.ndarray:
        """A DensePose person's (256, 256) uint8 S_gt in 0..14 from its ``dp_masks``."""
        return _part_labels(ann)

    def target(self, index: int) -> dict:
        """The target dict of record ``index`` (no image read)."""
        rec = self.records[index]
        return annotations_to_target(rec.annotations, rec.image_id, rec.height, rec.width, self.part_labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        rec = self.records[index]
        return read_image(rec.file_name, rec.height, rec.width), self.target(index)
