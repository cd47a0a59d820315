"""``load_weights(model, spec)``: a local checkpoint or torchvision weights (``torchvision:<Enum>.<NAME>``).

Tensors are matched by name; those whose shape differs are skipped. Classification weights
(ImageNet ResNets) land under ``backbone.body.``; detection weights (e.g. keypoint R-CNN) keep their
names, so backbone, RPN and box head load and the keypoint head is reported as unexpected.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import get_weight

TORCHVISION = "torchvision:"
BACKBONE_BODY = "backbone.body."
logger = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What ``load_weights`` did: names loaded, missing from the source, unexpected in it, shape-mismatched."""

    source: str
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]

    def summary(self) -> str:
        """One readable block: counts, then the names grouped by their first two components."""
        lines = [f"weights {self.source}: loaded {len(self.loaded)} tensors, {len(self.missing)} missing, "
                 f"{len(self.unexpected)} unexpected, {len(self.mismatched)} with another shape"]
        for title, names in (("missing", self.missing), ("unexpected", self.unexpected),
                             ("shape mismatch", self.mismatched)):
            groups = Counter(".".join(n.split(".")[:2]) for n in names)
            if groups:
                lines.append(f"  {title}: " + ", ".join(f"{g}.* ({c})" for g, c in sorted(groups.items())))
        return "\n".join(lines)


def _torchvision_state_dict(name: str) -> dict[str, Tensor]:
    try:
        weights = get_weight(name)
    except (ValueError, KeyError) as e:
        raise ValueError(f"{TORCHVISION}{name}: not a torchvision weights name ({e})") from None
    try:
        state = weights.get_state_dict(progress=False)
    except OSError as e:
        raise OSError(f"{TORCHVISION}{name}: cannot download the weights ({e})") from None
    if not any(k.startswith("backbone.") for k in state):
        state = {BACKBONE_BODY + k: v for k, v in state.items()}
    return state


def _checkpoint_state_dict(path: str) -> dict[str, Tensor]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)  # never executes pickled code
    except Exception as e:  # noqa: BLE001 (torch raises several unrelated types for bad files)
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict, or a dict with one under 'model'")
    return state


def load_weights(model: nn.Module, spec: str) -> LoadReport:
    """Load ``spec`` ("" = keep the random init) into ``model`` non-strictly and log one summary."""
    if not spec:
        return LoadReport("(none)", [], [], [], [])
    source = (_torchvision_state_dict(spec[len(TORCHVISION):]) if spec.startswith(TORCHVISION)
              else _checkpoint_state_dict(spec))
    own = model.state_dict()
    matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    report = LoadReport(spec, sorted(matched), sorted(set(own) - set(source)), sorted(set(source) - set(own)),
                        sorted(k for k in source if k in own and own[k].shape != source[k].shape))
    logger.info(report.summary())
    return report
