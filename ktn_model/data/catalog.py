"""Dataset registry: DensePose-COCO names under ``DATASETS.ROOT`` or ``ANNOTATIONS_JSON:IMAGE_DIR``.

Registered names follow detectron2 DensePose's dataset names and the COCO folder layout (UltraPose
in the same layout); ``docs/usage.md`` describes what the files must contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OFFICIAL_SOURCE = (
    "the official DensePose-COCO annotations are at https://dl.fbaipublicfiles.com/densepose/ "
    "(densepose_coco_2014_{train,valminusminival,minival}.json, see DensePose's get_DensePose_COCO.sh; "
    "save them under the name shown) and the COCO 2014 images at http://images.cocodataset.org/zips/"
)

# name -> (annotation json, image directory), relative to DATASETS.ROOT
REGISTRY: dict[str, tuple[str, str]] = {
    "densepose_coco_2014_train": ("coco/annotations/densepose_train2014.json", "coco/train2014"),
    "densepose_coco_2014_valminusminival": ("coco/annotations/densepose_valminusminival2014.json", "coco/val2014"),
    "densepose_coco_2014_minival": ("coco/annotations/densepose_minival2014.json", "coco/val2014"),
    "densepose_coco_2014_minival_100": ("coco/annotations/densepose_minival2014_100.json", "coco/val2014"),
    "densepose_ultrapose_train": ("ultrapose/annotations/densepose_train2014.json", "ultrapose/train2014"),
    "densepose_ultrapose_minival": ("ultrapose/annotations/densepose_valminusminival2014.json", "ultrapose/val2014"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """A resolved dataset: its ``name`` (registry name or the spec string) and its two paths."""

    name: str
    json_file: Path
    image_dir: Path


def resolve(spec: str, root: str | Path = "datasets", check: bool = True) -> DatasetSpec:
    """Turn a registered name or ``ANNOTATIONS_JSON:IMAGE_DIR`` into paths.

    With ``check``, a missing json or image directory raises ``FileNotFoundError`` naming where it
    was looked for (and, for registered names, where the official files come from); an unknown
    name raises ``KeyError`` listing the registered ones.
    """
    if spec in REGISTRY:
        json_rel, image_rel = REGISTRY[spec]
        found = DatasetSpec(spec, Path(root) / json_rel, Path(root) / image_rel)
        hint = f" (DATASETS.ROOT={root}); {OFFICIAL_SOURCE}"
    elif ":" in spec:
        json_part, image_part = spec.rsplit(":", 1)
        found = DatasetSpec(spec, Path(json_part), Path(image_part))
        hint = ""
    else:
        names = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown dataset {spec!r}: use one of {names} or ANNOTATIONS_JSON:IMAGE_DIR")
    if check:
        if not found.json_file.is_file():
            raise FileNotFoundError(f"{found.json_file}: annotation file of dataset {spec!r} not found{hint}")
        if not found.image_dir.is_dir():
            raise FileNotFoundError(f"{found.image_dir}: image directory of dataset {spec!r} not found{hint}")
    return found
