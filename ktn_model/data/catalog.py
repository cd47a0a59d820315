"""Datasets by name: the catalog of registered names, the dataset-format registry and the one factory.

A dataset is named in ``DATASETS.TRAIN`` / ``DATASETS.TEST`` either by a catalog name (detectron2 DensePose's
names, files under ``DATASETS.ROOT``) or as ``ANNOTATIONS_JSON:IMAGE_DIR`` (DensePose-COCO format).
``resolve`` turns the name into a ``DatasetSpec`` (paths + format name) and ``build_dataset`` builds it with
the class registered for its format in ``DATASET_FORMATS``. A format class takes ``(spec, train=bool)``
and provides ``spec``, ``records`` (``file_name``, ``height``, ``width``, ``image_id`` per image), ``len``
and ``dataset[i] -> (image, target)`` in CONTRIBUTING's dataset -> model interface; CONTRIBUTING
("How to add a dataset format") has a worked example. ``docs/usage.md`` describes what the files must contain.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from ktn_utils.registry import Registry

OFFICIAL_SOURCE = (
    "the official DensePose-COCO annotations are at https://dl.fbaipublicfiles.com/densepose/ "
    "(densepose_coco_2014_{train,valminusminival,minival}.json, see DensePose's get_DensePose_COCO.sh; "
    "save them under the name shown) and the COCO 2014 images at http://images.cocodataset.org/zips/"
)
DEFAULT_FORMAT = "densepose_coco"
# Modules that register the built-in formats; imported by ``build_dataset`` (they import torch).
BUILTIN_FORMAT_MODULES = ("ktn_model.data.dataset",)

# Format name -> dataset class (or any callable ``(spec, train=bool) -> dataset``).
DATASET_FORMATS: Registry = Registry("dataset format")


@dataclass(frozen=True)
class CatalogEntry:
    """A registered dataset: annotation json and image folder relative to ``DATASETS.ROOT``, and its format."""

    annotations: str
    images: str
    format: str = DEFAULT_FORMAT


# Name -> entry. UltraPose uses DensePose-COCO's json schema, read by the same format as the KTN release does
# (its own folders only; data/README.md).
CATALOG: dict[str, CatalogEntry] = {
    "densepose_coco_2014_train": CatalogEntry("coco/annotations/densepose_train2014.json", "coco/train2014"),
    "densepose_coco_2014_valminusminival": CatalogEntry(
        "coco/annotations/densepose_valminusminival2014.json", "coco/val2014"),
    "densepose_coco_2014_minival": CatalogEntry("coco/annotations/densepose_minival2014.json", "coco/val2014"),
    "densepose_coco_2014_minival_100": CatalogEntry(
        "coco/annotations/densepose_minival2014_100.json", "coco/val2014"),
    "densepose_ultrapose_train": CatalogEntry("ultrapose/annotations/densepose_train2014.json", "ultrapose/train2014"),
    "densepose_ultrapose_minival": CatalogEntry(
        "ultrapose/annotations/densepose_valminusminival2014.json", "ultrapose/val2014"),
}  # fmt: skip


def register_dataset(name: str, entry: CatalogEntry) -> None:
    """Add a catalog name (a format module may register the names of its datasets); a name is registered once."""
    if name in CATALOG and CATALOG[name] != entry:
        raise ValueError(f"dataset {name!r} is registered twice")
    CATALOG[name] = entry


@dataclass(frozen=True)
class DatasetSpec:
    """A resolved dataset: its ``name`` (catalog name or the spec string), its two paths and its format."""

    name: str
    json_file: Path
    image_dir: Path
    format: str = DEFAULT_FORMAT


def resolve(spec: str, root: str | Path = "datasets", check: bool = True) -> DatasetSpec:
    """Turn a catalog name or ``ANNOTATIONS_JSON:IMAGE_DIR`` into paths.

    With ``check``, a missing json or image directory raises ``FileNotFoundError`` naming where it
    was looked for (and, for registered names, where the official files come from); an unknown
    name raises ``KeyError`` listing the registered ones.
    """
    if spec in CATALOG:
        entry = CATALOG[spec]
        found = DatasetSpec(spec, Path(root) / entry.annotations, Path(root) / entry.images, entry.format)
        hint = f" (DATASETS.ROOT={root}); {OFFICIAL_SOURCE}" if entry.format == DEFAULT_FORMAT else ""
    elif ":" in spec:
        json_part, image_part = spec.rsplit(":", 1)
        found = DatasetSpec(spec, Path(json_part), Path(image_part))
        hint = ""
    else:
        names = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown dataset {spec!r}: use one of {names} or ANNOTATIONS_JSON:IMAGE_DIR")
    if check:
        if not found.json_file.is_file():
            raise FileNotFoundError(f"{found.json_file}: annotation file of dataset {spec!r} not found{hint}")
        if not found.image_dir.is_dir():
            raise FileNotFoundError(f"{found.image_dir}: image directory of dataset {spec!r} not found{hint}")
    return found


def build_dataset(spec: DatasetSpec, train: bool = False):
    """The dataset of ``spec``, built by its format's class; ``train`` applies that format's training filter.

    An unknown format is a ``ValueError`` listing the registered ones.
    """
    for module in BUILTIN_FORMAT_MODULES:
        importlib.import_module(module)
    return DATASET_FORMATS.get(spec.format)(spec, train=train)
