"""The ground-truth file, checked while it is streamed and then read image by image (docs/densepose_format.md,
"Speed and memory").

``GroundTruth.load(path)`` checks every image and annotation with the rules of ``ktn_model.data.coco_json``
(the same one-line errors ``ktn train`` gives), keeps the ``images`` records and, per image, the byte spans of
its person annotations; ``annotations(image_id)`` reads them again. A file without a DensePose annotation is
refused (every metric would be −100). A pycocotools ``COCO`` is accepted too (held in memory).
"""

from __future__ import annotations

from pathlib import Path

from pycocotools.coco import COCO

from ktn_model.data.coco_json import (
    EVAL_ANNOTATION_FIELDS,
    EVAL_DP_FIELDS,
    check_annotation,
    check_images,
    check_top_level,
    no_densepose_error,
)
from ktn_model.evaluation.detections import ListReader
from ktn_model.evaluation.json_stream import SpanReader, records
from ktn_model.evaluation.results import PERSON_CATEGORY

KEYPOINT_FIELDS = ("keypoints", "num_keypoints")


class GroundTruth:
    """``images``: id -> image record; ``file_names``: id -> file name without folders; per image the spans of
    its person annotations (file order). ``coco``: a pycocotools ``COCO`` knowing the images (for
    ``annToMask``), not the annotations. ``keypoint_gap``: where a person lacks a keypoint field, else None."""

    def __init__(self, path: Path | None, images: list[dict], spans: dict[int, list[tuple[int, int, int]]], source,
                 keypoint_gap: str | None):  # fmt: skip
        self.path, self.spans, self.source, self.keypoint_gap = path, spans, source, keypoint_gap
        self.images = {image["id"]: image for image in images}
        self.file_names = {image_id: Path(image["file_name"]).name for image_id, image in self.images.items()}
        self.coco = COCO()
        self.coco.imgs = self.images

    @classmethod
    def load(cls, gt: str | Path | COCO) -> GroundTruth:
        if isinstance(gt, COCO):
            data, path = gt.dataset, Path("<ground truth>")
            check_top_level(data, path)
            stream, source = ((ann, i, i) for i, ann in enumerate(data["annotations"])), ListReader(data["annotations"])
        else:
            path, data = Path(gt), {}
            what = "annotation file"
            stream, source = records(path, "annotations", data, what), SpanReader(path, what)
        try:
            return cls._index(path, stream, data, source)
        except BaseException:
            source.close()
            raise

    @classmethod
    def _index(cls, path: Path, stream, data: dict, source) -> GroundTruth:
        spans: dict[int, list[tuple[int, int, int]]] = {}  # image id -> [(annotation index, start, end)]
        dense, count, keypoint_gap = 0, 0, None
        for index, (ann, start, end) in enumerate(stream):
            count += 1
            dense += check_annotation(ann, index, path, None, EVAL_ANNOTATION_FIELDS, EVAL_DP_FIELDS)
            if ann.get("category_id") != PERSON_CATEGORY:
                continue
            if keypoint_gap is None and any(k not in ann for k in KEYPOINT_FIELDS):
                keypoint_gap = f"annotation {ann.get('id')}: keypoint AP needs 'keypoints' and 'num_keypoints'"
            spans.setdefault(ann["image_id"], []).append((index, start, end))
        check_top_level(data, path)
        image_ids = check_images(data["images"], path)
        for image_id, found in spans.items():
            if image_id not in image_ids:
                index, start, end = found[0]
                ann = source.read(start, end)
                check_annotation(ann, index, path, image_ids, EVAL_ANNOTATION_FIELDS, EVAL_DP_FIELDS)
        if not dense:
            raise no_densepose_error(path, count, EVAL_DP_FIELDS)
        return cls(path, data["images"], spans, source, keypoint_gap)

    def image_ids(self) -> list[int]:
        return sorted(self.images)

    def annotations(self, image_id: int) -> list[dict]:
        """The person annotations of ``image_id`` (category 1), in file order."""
        return [self.source.read(start, end) for _, start, end in self.spans.get(image_id, ())]

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> GroundTruth:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
