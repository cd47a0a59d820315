"""Horizontal flip of an image and its DensePose target (docs/densepose_format.md, "Horizontal flip").

Resizing is not done here: the model's ``GeneralizedRCNNTransform`` resizes, and the box-relative
``dp_*`` fields do not change with the image size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch

from ktn_model.data.meta import (
    DP_FRAME,
    KEYPOINT_FLIP,
    MASK_LABEL_SYMMETRIES,
    NUM_PATCHES,
    POINT_LABEL_SYMMETRIES,
)

# Where UV_symmetry_transforms.mat comes from (DensePose's UV data, also detectron2's DensePose metadata).
UV_SYMMETRY_SOURCE = (
    "it is UV_data/UV_symmetry_transforms.mat of https://dl.fbaipublicfiles.com/densepose/densepose_uv_data.tar.gz "
    "(also at https://dl.fbaipublicfiles.com/densepose/data/UV_symmetry_transforms.mat)"
)
FLIP_OFF_HINT = "or set INPUT.HFLIP_TRAIN False to train without horizontal flips"


@dataclass(frozen=True)
class UVSymmetry:
    """``u`` and ``v`` (24, 256, 256) float32: mirrored U/V of patch I at [I-1, floor(V*255), floor(U*255)]."""

    u: torch.Tensor
    v: torch.Tensor


def load_uv_symmetry(path: str | Path) -> UVSymmetry:
    """Read ``UV_symmetry_transforms.mat`` (1x24 cells ``U_transforms``/``V_transforms``)."""
    try:
        mat = scipy.io.loadmat(str(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: UV symmetry file not found (INPUT.UV_SYMMETRY_FILE), needed for "
                                f"horizontal flips; {UV_SYMMETRY_SOURCE}; {FLIP_OFF_HINT}") from None
    except (ValueError, TypeError, OSError, scipy.io.matlab.MatReadError) as e:
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    tables = []
    for key in ("U_transforms", "V_transforms"):
        cells = np.asarray(mat.get(key, np.empty(0)), dtype=object).ravel()
        if cells.size != NUM_PATCHES or any(np.shape(c) != (DP_FRAME, DP_FRAME) for c in cells):
            raise ValueError(f"{path}: {key} must hold {NUM_PATCHES} tables of {DP_FRAME}x{DP_FRAME}")
        tables.append(torch.as_tensor(np.stack([np.asarray(c, dtype=np.float32) for c in cells])))
    return UVSymmetry(*tables)


def build_uv_symmetry(cfg) -> UVSymmetry | None:
    """The flip tables named by ``INPUT.UV_SYMMETRY_FILE``, or ``None`` when ``INPUT.HFLIP_TRAIN`` is off.

    With flipping on (the release always flips), a missing or unset file is an error naming the file and
    where it comes from: flipping is never dropped silently.
    """
    if not cfg.INPUT.HFLIP_TRAIN:
        return None
    if not cfg.INPUT.UV_SYMMETRY_FILE:
        raise ValueError(f"INPUT.UV_SYMMETRY_FILE is not set but INPUT.HFLIP_TRAIN is on: point it at "
                         f"UV_symmetry_transforms.mat ({UV_SYMMETRY_SOURCE}); {FLIP_OFF_HINT}")
    return load_uv_symmetry(cfg.INPUT.UV_SYMMETRY_FILE)


def flip_points(points: torch.Tensor, sym: UVSymmetry) -> torch.Tensor:
    """Flip (P, 5) ``[x, y, I, U, V]`` box-frame points: x -> 256 - x, I -> partner, (U, V) looked up
    in the table of the point's original patch I at (floor(V*255), floor(U*255))."""
    out = points.clone()
    part = points[:, 2].long()
    col = (points[:, 3] * 255).long().clamp(0, DP_FRAME - 1)
    row = (points[:, 4] * 255).long().clamp(0, DP_FRAME - 1)
    table = (part - 1).clamp(0, NUM_PATCHES - 1)
    out[:, 0] = DP_FRAME - points[:, 0]
    out[:, 2] = torch.as_tensor(POINT_LABEL_SYMMETRIES, dtype=points.dtype)[part]
    out[:, 3] = sym.u[table, row, col]
    out[:, 4] = sym.v[table, row, col]
    return out


def flip_masks(masks: torch.Tensor) -> torch.Tensor:
    """Mirror (N, 256, 256) coarse label maps left-right and swap left/right part labels."""
    return torch.as_tensor(MASK_LABEL_SYMMETRIES, dtype=masks.dtype)[masks.long()].flip(-1)


def flip_keypoints(keypoints: torch.Tensor, width: int) -> torch.Tensor:
    """(N, 17, 3) ``[x, y, v]``: x -> width - x and left/right keypoints swapped."""
    out = keypoints[:, list(KEYPOINT_FLIP)].clone()
    out[..., 0] = width - out[..., 0]
    return out


def hflip(image: torch.Tensor, target: dict, sym: UVSymmetry) -> tuple[torch.Tensor, dict]:
    """Flip a (3, H, W) image and its target (CONTRIBUTING's dataset interface) left-right."""
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    flipped = dict(target)
    flipped.update(
        boxes=boxes,
        keypoints=flip_keypoints(target["keypoints"], width),
        dp_points=[flip_points(p, sym) for p in target["dp_points"]],
        dp_masks=flip_masks(target["dp_masks"]),
    )
    if "dp_pseudo" in target:  # a teacher's pseudo-labelled points (ktn_model/data/pseudo_labels.py)
        flipped["dp_pseudo"] = [flip_points(p, sym) for p in target["dp_pseudo"]]
    return image.flip(-1), flipped
