"""Reading a DensePose-COCO annotation file with every field the trainer and evaluator use checked.

A problem is one ``ValueError`` naming the file, the record (``image 3 (id 17)``, ``annotation 41``)
and the field, before pycocotools sees the data (it would fail with a bare ``KeyError: 'bbox'``).
The fields are listed in ``docs/usage.md`` (section "Annotation files").
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

from pycocotools.coco import COCO

from ktn_model.data.meta import DP_KEYS, DP_POINT_KEYS, NUM_KEYPOINTS

IMAGE_FIELDS = ("id", "file_name", "height", "width")
ANNOTATION_FIELDS = ("id", "image_id", "category_id", "bbox")
# The evaluator also needs each ground-truth person's area (COCO area ranges, keypoint AP); it
# scores the points alone (GPSm falls back to the segmentation when dp_masks is absent).
EVAL_ANNOTATION_FIELDS = (*ANNOTATION_FIELDS, "area")
EVAL_DP_FIELDS = DP_POINT_KEYS
NUM_KEYPOINT_VALUES = 3 * NUM_KEYPOINTS  # x, y, visibility of each COCO keypoint


def read_json(path: Path, what: str = "file"):
    """The parsed JSON of ``path``; a one-line error naming it when missing or malformed."""
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a directory, expected a {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_record(path: Path, record, where: str, fields: tuple[str, ...]) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"{path}: {where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in fields if k not in record]
    if missing:
        raise ValueError(f"{path}: {where}: missing '{missing[0]}'")


def _check_densepose(path: Path, ann: dict, where: str, dp_fields: tuple[str, ...]) -> bool:
    """True when ``ann`` carries DensePose; an error when it carries only some of ``dp_fields``."""
    present = [k for k in dp_fields if k in ann]
    if not present:
        return False
    missing = [k for k in dp_fields if k not in ann]
    if missing:
        raise ValueError(f"{path}: {where}: has {present[0]} but no '{missing[0]}' (DensePose needs "
                         f"all of {', '.join(dp_fields)})")  # fmt: skip
    lengths = {k: len(ann[k]) if isinstance(ann[k], list) else -1 for k in DP_POINT_KEYS}
    if min(lengths.values()) < 0 or len(set(lengths.values())) != 1:
        counts = ", ".join(f"{k} {n if n >= 0 else 'not a list'}" for k, n in lengths.items())
        raise ValueError(f"{path}: {where}: the point lists must be lists of one length ({counts})")
    return True


def check_images(images: list, path: Path) -> set:
    """Check the ``images`` records of a DensePose-COCO file; return their ids."""
    image_ids = set()
    for index, image in enumerate(images):
        where = f"image {index} (id {image.get('id') if isinstance(image, dict) else '?'})"
        _check_record(path, image, where, IMAGE_FIELDS)
        image_ids.add(image["id"])
    return image_ids


def check_annotation(ann, index: int, path: Path, image_ids: set | None,
                     annotation_fields: tuple[str, ...] = ANNOTATION_FIELDS,
                     dp_fields: tuple[str, ...] = DP_KEYS) -> bool:  # fmt: skip
    """Check annotation number ``index`` of a DensePose-COCO file (``check_coco``'s rules); True when it
    carries DensePose. ``image_ids`` None skips the image-id check (a reader that meets the images later)."""
    where = f"annotation {ann.get('id') if isinstance(ann, dict) else '?'} (index {index})"
    _check_record(path, ann, where, annotation_fields)
    if image_ids is not None and ann["image_id"] not in image_ids:
        raise ValueError(f"{path}: {where}: image_id {ann['image_id']!r} is not in 'images'")
    bbox = ann["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(b) for b in bbox)):
        raise ValueError(f"{path}: {where}: 'bbox' must be [x, y, w, h] (4 finite numbers), got {str(bbox)[:60]}")
    keypoints = ann.get("keypoints")
    if keypoints and not (isinstance(keypoints, list) and len(keypoints) == NUM_KEYPOINT_VALUES):
        count = len(keypoints) if isinstance(keypoints, list) else "not a list"
        raise ValueError(f"{path}: {where}: 'keypoints' must hold {NUM_KEYPOINT_VALUES} numbers, got {count}")
    return _check_densepose(path, ann, where, dp_fields)


def check_coco(data, path: Path, annotation_fields: tuple[str, ...] = ANNOTATION_FIELDS,
               dp_fields: tuple[str, ...] = DP_KEYS) -> int:  # fmt: skip
    """Check a loaded DensePose-COCO dict; return the number of annotations with DensePose.

    Raises ``ValueError`` naming ``path``, the record and the field for: a missing top-level list,
    an image or annotation without one of its fields, a bbox that is not four finite numbers, an
    annotation of an unknown image, keypoints that are not 51 numbers, or only some of ``dp_fields``
    (training needs all six ``dp_*`` fields, the evaluator the five point lists).
    """
    check_top_level(data, path)
    image_ids = check_images(data["images"], path)
    return sum(check_annotation(ann, index, path, image_ids, annotation_fields, dp_fields)
               for index, ann in enumerate(data["annotations"]))  # fmt: skip


def check_top_level(data, path: Path) -> None:
    """A COCO annotation file is an object with ``images``, ``annotations`` and ``categories`` lists."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a COCO annotation file (expected a JSON object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: no '{key}' list (a COCO annotation file has images, annotations, categories)")


def no_densepose_error(path: Path, count: int, dp_fields: tuple[str, ...]) -> ValueError:
    """The error for a file none of whose ``count`` annotations carries DensePose."""
    return ValueError(f"{path}: no DensePose ground truth: none of its {count} annotations has {', '.join(dp_fields)}")


def load_coco(path: str | Path, annotation_fields: tuple[str, ...] = ANNOTATION_FIELDS,
              dp_fields: tuple[str, ...] = DP_KEYS, need_densepose: bool = True) -> COCO:  # fmt: skip
    """A checked pycocotools ``COCO`` of a DensePose-COCO json, built quietly.

    With ``need_densepose``, a file in which no annotation carries ``dp_fields`` is an error: the
    DensePose losses would all be 0 and the GPS/GPSm metrics undefined (-100).
    """
    path = Path(path)
    data = read_json(path, "annotation file")
    dense = check_coco(data, path, annotation_fields, dp_fields)
    if need_densepose and not dense:
        raise no_densepose_error(path, len(data["annotations"]), dp_fields)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco
