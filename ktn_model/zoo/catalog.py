"""The DensePose models of detectron2's model zoo (``DENSEPOSE_IUV.md`` and the human rows of ``DENSEPOSE_CSE.md``):
name, model id, file and published metrics, as the presets' headers state them (docs/pretrained.md, "Model zoo").

A model's name is detectron2's config path without ``.yaml`` and the path of its preset under
``configs/detectron2/``; its file is ``KTN_ZOO_URL``/NAME/MODEL_ID/FILE (default: detectron2's download site). The
rows live in ``models.csv`` beside this file.
"""

from __future__ import annotations

import csv
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ZOO_URL = "https://dl.fbaipublicfiles.com/densepose"
ZOO_URL_ENV = "KTN_ZOO_URL"  # another mirror of the same layout (the tests' local server)
PREFIX = "zoo:"


@dataclass(frozen=True)
class ZooModel:
    """One model: ``box_ap``, ``gps_ap``, ``gpsm_ap`` as published (DensePose-COCO minival; DensePose Chimps for the
    evolution models); ``values`` the number of values in its checkpoint (4 bytes each)."""

    name: str
    model_id: int
    file: str
    box_ap: float
    gps_ap: float
    gpsm_ap: float
    values: int

    @property
    def preset(self) -> str:
        """The shipped preset (``ktn_model.resources.resolve_config``)."""
        return f"detectron2/{self.name}.yaml"

    @property
    def url(self) -> str:
        return f"{os.environ.get(ZOO_URL_ENV, DEFAULT_ZOO_URL).rstrip('/')}/{self.name}/{self.model_id}/{self.file}"

    @property
    def task(self) -> str:
        if self.name.startswith("cse/"):
            return "CSE"
        return "chart + confidence" if "_WC" in self.name else "chart"

    @property
    def backbone(self) -> str:
        depth = "R-101" if "R_101" in self.name else "R-50"
        return f"{depth} FPN, {'DeepLab' if '_DL_' in self.name else 'V1ConvX'} head"

    @property
    def size_mb(self) -> float:
        """The checkpoint's approximate size: its float32 values."""
        return self.values * 4 / 1e6


def load_models(path: Path = Path(__file__).with_name("models.csv")) -> tuple[ZooModel, ...]:
    """The catalog file: one row per model, the ``ZooModel`` fields as columns."""
    with open(path, newline="") as f:
        return tuple(ZooModel(r["name"], int(r["model_id"]), r["file"], float(r["box_ap"]), float(r["gps_ap"]),
                              float(r["gpsm_ap"]), int(r["values"])) for r in csv.DictReader(f))


MODELS: tuple[ZooModel, ...] = load_models()


def find(name: str) -> ZooModel:
    """The model called ``name`` (with or without ``zoo:``); ValueError listing close names otherwise."""
    name = name.removeprefix(PREFIX)
    for model in MODELS:
        if model.name == name:
            return model
    names = [m.name for m in MODELS]
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.6) or difflib.get_close_matches(
        name, [n.rsplit("/", 1)[-1] for n in names], n=4, cutoff=0.6)
    hint = f"close names: {', '.join(close)}" if close else "no close name"
    raise ValueError(f"{PREFIX}{name}: not a model of the zoo; {hint} (`ktn models` lists them)")
