"""State-dict names of detectron2 and of the KTN release (a detectron2 fork) for this project's modules.

``Detectron2Names(model)(key)`` maps one of our state-dict keys to the key the original code uses for the same
tensor, from the rules each module declares; it is one-to-one, so its inverse reads their checkpoints. Two
tensors also change their layout (``to_detectron2`` / ``from_detectron2``): ``cls_score`` has background first
here (torchvision) and last there; class-specific ``bbox_pred`` has background rows here and none there
(docs/pretrained.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import Tensor, nn

# Source entries that are not parameters of ours: the release's buffers.
PIXEL_KEYS = ("pixel_mean", "pixel_std")
CELL_ANCHORS = "proposal_generator.anchor_generator.cell_anchors."

Rule = tuple[str, Callable[[re.Match], str]]
SAME_NAMES: list[Rule] = [(r"(.*)", lambda m: m[1])]  # a module that mirrors the original's layout


def _detector_rules() -> list[Rule]:
    """The RPN and the box branch, which are the same torchvision modules in every model."""
    rpn = "proposal_generator.rpn_head."
    return [
        (r"rpn\.head\.conv\.0\.0\.(\w+)", lambda m: f"{rpn}conv.{m[1]}"),
        (r"rpn\.head\.cls_logits\.(\w+)", lambda m: f"{rpn}objectness_logits.{m[1]}"),
        (r"rpn\.head\.bbox_pred\.(\w+)", lambda m: f"{rpn}anchor_deltas.{m[1]}"),
        (r"roi_heads\.box_head\.fc6\.(\w+)", lambda m: f"roi_heads.box_head.fc1.{m[1]}"),
        (r"roi_heads\.box_head\.fc7\.(\w+)", lambda m: f"roi_heads.box_head.fc2.{m[1]}"),
        (r"(roi_heads\.box_predictor\.(cls_score|bbox_pred)\.\w+)", lambda m: m[1]),
    ]


def _prefixed(path: str, theirs: str, rule: Rule) -> Rule:
    """A module's rule (its own names on both sides) -> a whole-model rule (the escaped prefix adds no group)."""
    pattern, fn = rule
    return re.escape(path) + pattern, lambda m: theirs + fn(m)


class Detectron2Names:
    """Our key -> detectron2 / KTN-release key for ``model``.

    Each module that owns names of its own says how they map: ``detectron2_rules()`` gives (regex over its own
    state-dict names, match -> the original name relative to its ``detectron2_prefix``, which defaults to its
    own path). ``detectron2_aliases`` ({their second prefix: their first}, relative) lists tensors the original
    state dict holds twice. The RPN and box branch follow ``_detector_rules``.
    """

    def __init__(self, model: nn.Module):
        rules = _detector_rules()
        self.aliases: dict[str, str] = {}
        for path, module in model.named_modules():
            if path and hasattr(module, "detectron2_rules"):
                theirs = getattr(module, "detectron2_prefix", path + ".")
                rules += [_prefixed(path + ".", theirs, rule) for rule in module.detectron2_rules()]
                aliases = getattr(module, "detectron2_aliases", {})
                self.aliases.update({theirs + a: theirs + b for a, b in aliases.items()})
        self.rules = [(re.compile(pattern), fn) for pattern, fn in rules]

    def __call__(self, key: str) -> str | None:
        """The original name of ``key``; None when the original code has no such tensor."""
        for pattern, fn in self.rules:
            match = pattern.fullmatch(key)
            if match:
                return fn(match)
        return None


def to_detectron2(key: str, value: Tensor) -> Tensor:
    """Our tensor -> its detectron2 layout (background last in cls_score, no background rows in bbox_pred)."""
    if key.startswith("roi_heads.box_predictor.cls_score."):
        return torch.cat([value[1:], value[:1]])
    if key.startswith("roi_heads.box_predictor.bbox_pred."):
        return value[4:]
    return value


def from_detectron2(key: str, value: Tensor) -> Tensor:
    """The inverse of ``to_detectron2`` (``key`` is ours); the unused background rows of bbox_pred are 0."""
    if key.startswith("roi_heads.box_predictor.cls_score."):
        return torch.cat([value[-1:], value[:-1]])
    if key.startswith("roi_heads.box_predictor.bbox_pred."):
        return torch.cat([value.new_zeros((4, *value.shape[1:])), value])
    return value
