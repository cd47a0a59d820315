"""Writing a model's weights in the original code's layouts; ``weights.py`` reads them back (docs/pretrained.md).

``detectron2``: a model-zoo style ``.pkl`` (``{"model": {name: numpy array}}``, pickle protocol 4);
``ktnv2``: a KTN-release style ``.pth`` (``torch.save({"model": {name: tensor}})``). Both are written atomically.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from ktn_utils.atomic import atomic_write

from .weights import EXPORT_LAYOUTS, export_weights


def check_layout(layout: str) -> str:
    """``layout`` if it is one of ``EXPORT_LAYOUTS``, else a ValueError listing them."""
    if layout not in EXPORT_LAYOUTS:
        raise ValueError(f"layout {layout!r}: choose one of {', '.join(EXPORT_LAYOUTS)}")
    return layout


def save_in_layout(model: nn.Module, layout: str, out: str | Path) -> int:
    """Write ``model``'s tensors to ``out`` in ``layout`` (detectron2 or ktnv2); returns the tensor count."""
    state = export_weights(model, check_layout(layout))
    if layout == "detectron2":
        arrays = {k: v.numpy() for k, v in state.items()}
        atomic_write(out, lambda f: pickle.dump({"model": arrays, "__author__": "ktn convert"}, f, protocol=4))
    else:
        atomic_write(out, lambda f: torch.save({"model": state}, f))
    return len(state)
