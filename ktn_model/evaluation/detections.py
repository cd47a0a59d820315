"""The result file: every detection checked once while it is streamed, then read again image by image.

A result file is the official list of detection dicts (docs/densepose_format.md, "Official result dicts").
``ResultIndex.load`` checks each detection (image id of the ground truth, file name, box, score, IUV shape,
keypoints) and keeps per person detection only its image id, score and byte span; ``detections(image_id)``
reads that image's detections again. Memory therefore grows with the number of detections by a few dozen
bytes each, not with the size of their IUV images (docs/densepose_format.md, "Speed and memory").
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ktn_model.data.coco_json import NUM_KEYPOINT_VALUES
from ktn_model.data.iuv import iuv_size
from ktn_model.evaluation.json_stream import SpanReader, records
from ktn_model.evaluation.results import PERSON_CATEGORY, decode_iuv

_NUMBER_TYPES = (int, float)
_SHORT = 8  # lists up to this long are checked in Python, longer ones by numpy
MATCH_HINT = " (run `ktn infer --annotations GT_JSON` so that results.json uses the ground truth's image ids)"


@dataclass
class Detection:
    """One checked person result: ``index`` in the results list, ``bbox`` XYWH (4,), the encoded IUV and,
    when the results carry them, ``keypoints`` (51,)."""

    index: int
    image_id: int
    bbox: np.ndarray
    score: float
    shape: tuple[int, int, int]
    png: str
    keypoints: np.ndarray | None = None

    def where(self) -> str:
        return f"detection {self.index} (image id {self.image_id})"

    def decode(self) -> np.ndarray:
        """The (3, H, W) uint8 IUV, checked against its declared shape (decoded anew on each call)."""
        try:
            iuv = decode_iuv(self.png)
        except ValueError as e:
            raise ValueError(f"{self.where()}: densepose {e}") from None
        if iuv.shape != self.shape:
            raise ValueError(f"{self.where()}: decoded IUV has shape {iuv.shape}, declared {self.shape}")
        return iuv


def number_list(value, length: int, what: str, where: str) -> np.ndarray:
    """A list of ``length`` finite numbers as float64, else a ValueError naming ``where``."""
    if type(value) is list and len(value) == length:  # the usual case, checked without asarray's generality
        if length <= _SHORT:
            if all(type(x) in _NUMBER_TYPES for x in value) and all(math.isfinite(x) for x in value):
                return np.array(value, dtype=np.float64)
        elif all(type(x) in _NUMBER_TYPES for x in value[:_SHORT]):
            try:
                arr = np.array(value, dtype=np.float64)
            except (TypeError, ValueError):
                arr = None
            if arr is not None and arr.ndim == 1 and np.isfinite(arr).all():
                return arr
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.size != length or not np.all(np.isfinite(arr)):
        count = "a finite number" if length == 1 else f"{length} finite numbers"
        raise ValueError(f"{where}: '{what}' must be {count}, got {str(value)[:80]}")
    return arr


def _densepose_field(value, where: str) -> tuple[tuple[int, ...], str]:
    """(shape, base64) from ``[[3,h,w], str]`` or the official form ``[[[3,h,w], str], [x,y,w,h]]``.

    See docs/densepose_format.md, "Official result dicts".
    """
    pair = value[0] if isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple) else None
    if pair is not None and len(pair) == 2 and isinstance(pair[1], str):
        value = pair
    if not (isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], str)):
        raise ValueError(f"{where}: 'densepose' must be [[3, h, w], base64 PNG] (optionally with the box)")
    return tuple(int(s) for s in number_list(value[0], 3, "densepose shape", where)), value[1]


def parse_detection(index: int, det: dict, file_names: dict[int, str]) -> Detection | None:
    """Check one result dict; None for a category other than person (not evaluated).

    ``file_names``: GT image id -> file name (without folders). A detection whose image id is not in
    the ground truth, or whose ``file_name`` (written by ``ktn infer``) is not that image's, is an error.
    Keypoints, when present, must be 51 finite numbers.
    """
    if not isinstance(det, dict):
        raise ValueError(f"detection {index}: expected a JSON object, got {type(det).__name__}")
    image_id = det.get("image_id")
    where = f"detection {index} (image id {image_id})"
    if not isinstance(image_id, int) or isinstance(image_id, bool) or image_id not in file_names:
        raise ValueError(f"{where}: image id not in the ground truth{MATCH_HINT}")
    if "file_name" in det and Path(str(det["file_name"])).name != file_names[image_id]:
        raise ValueError(f"{where}: file_name {det['file_name']!r} is not the ground truth's "
                         f"{file_names[image_id]!r} for that id{MATCH_HINT}")  # fmt: skip
    if det.get("category_id") != PERSON_CATEGORY:
        if "category_id" not in det:
            raise ValueError(f"{where}: missing 'category_id'")
        return None
    bbox = number_list(det.get("bbox"), 4, "bbox", where)
    score = float(number_list(det.get("score"), 1, "score", where)[0])
    if "densepose" not in det:
        raise ValueError(f"{where}: missing 'densepose'")
    shape, png = _densepose_field(det["densepose"], where)
    expected = (3, *iuv_size(bbox[2], bbox[3]))
    if shape != expected:
        raise ValueError(
            f"{where}: IUV shape {list(shape)} does not fit bbox {bbox.tolist()} (expected {list(expected)})"
        )
    keypoints = None
    if "keypoints" in det:
        keypoints = number_list(det["keypoints"], NUM_KEYPOINT_VALUES, "keypoints", where)
    return Detection(index, int(image_id), bbox, score, shape, png, keypoints)


def checked_detection(index: int, det: dict) -> Detection:
    """The ``Detection`` of a result dict that ``parse_detection`` accepted before (read again, not re-checked)."""
    dp = det["densepose"]
    png = dp[1] if isinstance(dp[1], str) else dp[0][1]  # [[3, h, w], png] or [[[3, h, w], png], bbox]
    bbox = np.array(det["bbox"], dtype=np.float64)
    keypoints = np.array(det["keypoints"], dtype=np.float64) if "keypoints" in det else None
    return Detection(index, det["image_id"], bbox, float(det["score"]), (3, *iuv_size(bbox[2], bbox[3])), png,
                     keypoints)  # fmt: skip


class ListReader:
    """``read(i, i)`` is element i of an in-memory result list (the ``SpanReader`` interface)."""

    def __init__(self, items: list):
        self.items = items

    def read(self, start: int, end: int):
        return self.items[start]

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class ResultIndex:
    """The person detections of one result file (or list), grouped by image; see the module docstring.

    ``with_keypoints``: the person results carry keypoints (then every one of them does). ``image_ids``: the
    images with at least one person detection. ``detections(image_id)``: that image's in file order.
    """

    def __init__(self, source, by_image: dict[int, np.ndarray], spans: np.ndarray, file_names: dict[int, str],
                 with_keypoints: bool, count: int):  # fmt: skip
        """``spans``: (N, 3) [index in the results, start, end] per person detection."""
        self.source, self.by_image, self.spans, self.file_names = source, by_image, spans, file_names
        self.with_keypoints, self.count = with_keypoints, count

    @classmethod
    def load(cls, results: str | Path | list, file_names: dict[int, str]) -> ResultIndex:
        """Check every detection of ``results`` (a JSON path or a list) against the GT's ``file_names``."""
        if isinstance(results, str | Path):
            stream, source = records(results, what="result file"), SpanReader(results, "result file")
        else:
            stream, source = ((det, i, i) for i, det in enumerate(results)), ListReader(results)
        image_ids, spans = array("q"), array("q")
        with_kp, without_kp = None, None
        count = 0
        try:
            for index, (det, start, end) in enumerate(stream):
                count += 1
                parsed = parse_detection(index, det, file_names)
                if parsed is None:
                    continue
                if parsed.keypoints is None:
                    without_kp = parsed.where() if without_kp is None else without_kp
                else:
                    with_kp = True
                image_ids.append(parsed.image_id)
                spans.extend((index, start, end))
        except BaseException:
            source.close()
            raise
        if with_kp and without_kp:
            raise ValueError(f"{without_kp}: 'keypoints' must be {NUM_KEYPOINT_VALUES} finite numbers, got None "
                             f"(the other results carry keypoints)")  # fmt: skip
        ids = np.frombuffer(image_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(ids[order])) + 1) if ids.size else []
        by_image = {int(ids[g[0]]): g for g in groups}
        return cls(source, by_image, np.frombuffer(spans, dtype=np.int64).reshape(-1, 3), file_names,
                   bool(with_kp), count)  # fmt: skip

    @property
    def image_ids(self) -> set[int]:
        return set(self.by_image)

    def detections(self, image_id: int) -> list[Detection]:
        """The person detections of ``image_id``, in results order (read again from the file)."""
        found = []
        for position in self.by_image.get(image_id, ()):
            index, start, end = (int(v) for v in self.spans[position])
            found.append(checked_detection(index, self.source.read(start, end)))
        return found

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
