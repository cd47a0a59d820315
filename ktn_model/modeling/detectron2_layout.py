"""State-dict names of detectron2 and of the KTN release (a detectron2 fork) for this project's modules.

``detectron2_name(key, decoder, scale_convs)`` maps one of our state-dict keys to the key the original code
uses for the same tensor; it is one-to-one, so its inverse reads their checkpoints. Two tensors also change
their layout (``to_detectron2`` / ``from_detectron2``): ``cls_score`` has background first here (torchvision)
and last there; class-specific ``bbox_pred`` has background rows here and none there (docs/pretrained.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import Tensor

D2_HEAD = "roi_heads.densepose_head."
D2_PREDICTOR = "roi_heads.densepose_predictor."
# Source entries that are not parameters of ours: the release's buffers and its second name for ScaleConvs.
PIXEL_KEYS = ("pixel_mean", "pixel_std")
CELL_ANCHORS = "proposal_generator.anchor_generator.cell_anchors."
SCALE_CONV_ALIAS = (D2_HEAD + "ScaleConvs.", D2_HEAD + "ScaleConv.")

Rule = tuple[str, Callable[[re.Match], str]]


def _backbone_rules() -> list[Rule]:
    res = "backbone.bottom_up.res{}.{}."
    return [
        (r"backbone\.body\.conv1\.weight", lambda m: "backbone.bottom_up.stem.conv1.weight"),
        (r"backbone\.body\.bn1\.(\w+)", lambda m: f"backbone.bottom_up.stem.conv1.norm.{m[1]}"),
        (r"backbone\.body\.layer(\d)\.(\d+)\.conv(\d)\.weight",
         lambda m: res.format(int(m[1]) + 1, m[2]) + f"conv{m[3]}.weight"),
        (r"backbone\.body\.layer(\d)\.(\d+)\.bn(\d)\.(\w+)",
         lambda m: res.format(int(m[1]) + 1, m[2]) + f"conv{m[3]}.norm.{m[4]}"),
        (r"backbone\.body\.layer(\d)\.(\d+)\.downsample\.0\.weight",
         lambda m: res.format(int(m[1]) + 1, m[2]) + "shortcut.weight"),
        (r"backbone\.body\.layer(\d)\.(\d+)\.downsample\.1\.(\w+)",
         lambda m: res.format(int(m[1]) + 1, m[2]) + f"shortcut.norm.{m[3]}"),
        (r"backbone\.fpn\.inner_blocks\.(\d)\.0\.(\w+)", lambda m: f"backbone.fpn_lateral{int(m[1]) + 2}.{m[2]}"),
        (r"backbone\.fpn\.layer_blocks\.(\d)\.0\.(\w+)", lambda m: f"backbone.fpn_output{int(m[1]) + 2}.{m[2]}"),
    ]


def _detector_rules() -> list[Rule]:
    rpn = "proposal_generator.rpn_head."
    return [
        (r"rpn\.head\.conv\.0\.0\.(\w+)", lambda m: f"{rpn}conv.{m[1]}"),
        (r"rpn\.head\.cls_logits\.(\w+)", lambda m: f"{rpn}objectness_logits.{m[1]}"),
        (r"rpn\.head\.bbox_pred\.(\w+)", lambda m: f"{rpn}anchor_deltas.{m[1]}"),
        (r"roi_heads\.box_head\.fc6\.(\w+)", lambda m: f"roi_heads.box_head.fc1.{m[1]}"),
        (r"roi_heads\.box_head\.fc7\.(\w+)", lambda m: f"roi_heads.box_head.fc2.{m[1]}"),
        (r"(roi_heads\.box_predictor\.(cls_score|bbox_pred)\.\w+)", lambda m: m[1]),
    ]


def _decoder_rules(decoder: str) -> list[Rule]:
    mid = r"roi_heads\.densepose_pooler\.mid\."
    if decoder == "MIDv1":  # detectron2's DensePose decoder: Sequential indices are the same on both sides
        return [(mid + r"scale_heads\.(\d)\.(\d+)\.0\.(\w+)",
                 lambda m: f"roi_heads.decoder.p{int(m[1]) + 2}.{m[2]}.{m[3]}"),
                (mid + r"predictor\.(\w+)", lambda m: f"roi_heads.decoder.predictor.{m[1]}")]
    out = "roi_heads.mid_decoder."
    # Ours: [conv, IFA] per stage (IFA = 1×1 conv + pixel shuffle); the release: [conv, 1×1 conv, shuffle].
    return [
        (mid + r"fa\.(\d)\.conv\.0\.(\w+)", lambda m: f"{out}bottom_up_p{int(m[1]) + 2}.adt_conv.{m[2]}"),
        (mid + r"scale_heads\.(\d)\.(\d+)\.0\.(\w+)",
         lambda m: f"{out}p{int(m[1]) + 2}.{3 * (int(m[2]) // 2)}.{m[3]}"),
        (mid + r"scale_heads\.(\d)\.(\d+)\.0\.0\.(\w+)",
         lambda m: f"{out}p{int(m[1]) + 2}.{3 * (int(m[2]) // 2) + 1}.{m[3]}"),
        (mid + r"fusion\.branches\.(\d)\.(\d)\.(\w+)", lambda m: f"{out}trident_convs.{m[1]}.{m[2]}.{m[3]}"),
        (mid + r"fusion\.predictor\.(\w+)", lambda m: f"{out}predictor.{m[1]}"),
    ]


def _densepose_rules(scale_convs: bool, chart_predictor: bool) -> list[Rule]:
    head, sc = r"roi_heads\.densepose_head\.", D2_HEAD + "ScaleConvs."
    first = 1 if scale_convs else 0  # index of the first stacked conv in our DensePoseHead Sequential
    rules: list[Rule] = [
        (head + r"0\.shared", lambda m: sc + "weight"),
        (head + r"0\.point\.(\d)\.(\w+)", lambda m: f"{sc}conv1.{m[1]}.{m[2]}"),
        (head + r"0\.norms\.(\d)\.(\w+)", lambda m: f"{sc}norms.{m[1]}.{m[2]}"),
        (head + r"0\.project\.weight", lambda m: sc + "project.0.weight"),
        (head + r"(\d+)\.0\.weight", lambda m: f"{D2_HEAD}body_conv_fcn{int(m[1]) + 1 - first}.weight"),
        (head + r"(\d+)\.1\.(\w+)", lambda m: f"{D2_HEAD}body_conv_fcn{int(m[1]) + 1 - first}.norm.{m[2]}"),
        (head + r"([A-Za-z].*)", lambda m: D2_HEAD + m[1]),  # detectron2's heads use detectron2's names
    ]
    pred = r"roi_heads\.densepose_predictor\."
    if chart_predictor:
        renames = {"m_lowres": "ann_index_lowres", "i_lowres": "index_uv_lowres"}
        rules.append((pred + r"(\w+)\.(\w+)", lambda m: f"{D2_PREDICTOR}{renames.get(m[1], m[1])}.{m[2]}"))
        return rules
    graphs = {"kpt": "kpt_crgk_matrix", "part": "part_crgk_matrix", "loc": "bbox_crgk_matrix"}
    rules += [
        (pred + r"ktm\.transformer\.(\d)\.(\w+)", lambda m: f"{D2_PREDICTOR}parameter_transformer.{m[1]}.{m[2]}"),
        (pred + r"ktm\.A\.(\w+)", lambda m: D2_PREDICTOR + graphs[m[1]]),
        (pred + r"(\w+_lowres\.\w+)", lambda m: D2_PREDICTOR + m[1]),
    ]
    return rules


class Detectron2Names:
    """Our key -> detectron2 / KTN-release key, for a model of the given decoder / head / predictor."""

    def __init__(self, decoder: str | None, scale_convs: bool, chart_predictor: bool):
        rules = _backbone_rules() + _detector_rules() + _densepose_rules(scale_convs, chart_predictor)
        if decoder is not None:
            rules += _decoder_rules(decoder)
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
