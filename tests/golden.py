"""The golden fixtures (tests/data/golden/README.md): regenerate their checkpoints, read their expectations.

The checkpoints are not stored: every tensor follows from ``manifest.json`` by the fixtures' weight rule,
``mean + std · N(0, 1)`` drawn from ``numpy.random.default_rng(crc32(key))`` in float64, cast to float32.
"""

from __future__ import annotations

import json
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch

from ktn_utils.safe_pickle import safe_load

GOLDEN = Path(__file__).parent / "data" / "golden"


def make_weights(fixture: str) -> dict[str, np.ndarray]:
    """Every state-dict entry of ``fixture``, in manifest order, as the original code saw it."""
    folder = GOLDEN / fixture
    manifest = json.loads((folder / "manifest.json").read_text())
    weights: dict[str, np.ndarray] = {}
    for key, spec in manifest.items():
        if "mean" in spec:
            rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
            z = rng.standard_normal(size=tuple(spec["shape"]))
            weights[key] = (spec["mean"] + spec["std"] * z).astype(np.float32)
        elif "crkg" in spec:
            weights[key] = np.asarray(safe_load(folder / spec["crkg"])).T.astype(np.float32)
        elif "value" in spec:
            weights[key] = np.asarray(spec["value"], np.float32).reshape(spec["shape"])
    for key, spec in manifest.items():
        if "alias_of" in spec:
            weights[key] = weights[spec["alias_of"]]
    return weights


def write_detectron2_pkl(weights: dict[str, np.ndarray], path: Path) -> Path:
    """A detectron2 model-zoo file: a pickle of ``{"model": {name: numpy array}, "__author__": ...}``."""
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "golden"}, f)
    return path


def write_release_pth(weights: dict[str, np.ndarray], path: Path) -> Path:
    """A KTN-release checkpoint: ``torch.save({"model": state_dict})``."""
    torch.save({"model": {k: torch.from_numpy(v) for k, v in weights.items()}}, path)
    return path


def expected(fixture: str, image: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / fixture / f"expected_{image}.npz") as data:
        return {k: data[k] for k in data.files}


def sampled(tensor: torch.Tensor | np.ndarray, exp: dict[str, np.ndarray], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(ours, theirs) at the positions the fixture sampled for ``key``."""
    values = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else tensor
    return values[tuple(exp[f"{key}_pos"].T)], exp[f"{key}_val"]
