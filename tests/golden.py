"""The golden fixtures (tests/data/golden/README.md): regenerate their checkpoints, read their expectations.

The checkpoints are not stored: every tensor follows from ``manifest.json`` by the fixtures' weight rule,
``mean + std · N(0, 1)`` drawn from ``numpy.random.default_rng(crc32(key))`` in float64, cast to float32.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ktn_model.data.resize import resize_shortest_edge
from ktn_utils.safe_pickle import safe_load

GOLDEN = Path(__file__).parent / "data" / "golden"
RELEASE_PIXEL_MEAN = (103.530, 116.280, 123.675)  # BGR; the release's pixel_std is 1
RELEASE_FIXTURES = ("R_50_KTNv2", "HRNet_w32_KTNv2")  # made by the released KTNv2 code; the others by detectron2


def make_weights(fixture: str, prefix: str = "") -> dict[str, np.ndarray]:
    """The state-dict entries of ``fixture`` whose keys start with ``prefix`` (default: all), in manifest order,
    as the original code saw them."""
    folder = GOLDEN / fixture
    manifest = {k: e for k, e in json.loads((folder / "manifest.json").read_text()).items() if k.startswith(prefix)}
    weights: dict[str, np.ndarray] = {}
    for key, spec in manifest.items():
        if "mean" in spec:
            rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
            z = rng.standard_normal(size=tuple(spec["shape"]))
            weights[key] = (spec["mean"] + spec["std"] * z).astype(np.float32)
        elif "crkg" in spec:
            weights[key] = np.asarray(safe_load(folder / spec["crkg"])).T.astype(np.float32)
        elif "value" in spec:
            weights[key] = np.asarray(spec["value"], spec.get("dtype", "float32")).reshape(spec["shape"])
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


def write_checkpoint(fixture: str, folder: Path) -> Path:
    """``fixture``'s weights in ``folder`` as the code that made the fixture stores them: a release ``.pth`` for
    ``RELEASE_FIXTURES``, a detectron2 model-zoo ``.pkl`` for the others."""
    if fixture in RELEASE_FIXTURES:
        return write_release_pth(make_weights(fixture), folder / f"{fixture}.pth")
    return write_detectron2_pkl(make_weights(fixture), folder / f"{fixture}.pkl")


def expected(fixture: str, image: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / fixture / f"expected_{image}.npz") as data:
        return {k: data[k] for k in data.files}


def sampled(tensor: torch.Tensor | np.ndarray, exp: dict[str, np.ndarray], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(ours, theirs) at the positions the fixture sampled for ``key``."""
    values = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else tensor
    return values[tuple(exp[f"{key}_pos"].T)], exp[f"{key}_val"]


def load_image(name: str) -> np.ndarray:
    """``astronaut`` or ``coffee``: (H, W, 3) uint8 RGB, as the fixtures' original code read it."""
    return np.asarray(Image.open(GOLDEN / f"{name}.png").convert("RGB"))


def release_input(fixture: str, image: str) -> torch.Tensor:
    """What the release's backbone saw: ``image`` resized (800, max 1333), BGR, minus the pixel mean, no padding,
    (1, 3, H, W) float32. The resized pixels are checked against the fixture's sha256 of ``input_resized_bgr``."""
    bgr = np.ascontiguousarray(resize_shortest_edge(load_image(image), 800, 1333)[..., ::-1])
    assert hashlib.sha256(bgr.tobytes()).hexdigest() == str(expected(fixture, image)["input_resized_bgr_sha256"])
    x = torch.from_numpy(bgr).permute(2, 0, 1).float()
    return (x - torch.tensor(RELEASE_PIXEL_MEAN).view(3, 1, 1))[None]
