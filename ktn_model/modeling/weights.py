"""Reading weights (docs/pretrained.md): the file format is detected from its content, not its suffix.

- detectron2 model-zoo ``.pkl``: a pickle of ``{"model": {name: numpy array}, ...}``, read with the restricted
  unpickler (numpy arrays and builtins only; a pickle that would run code is refused);
- detectron2 / KTN-release ``.pth`` and this project's checkpoints: torch zip files, ``torch.load(weights_only=True)``;
- ``torchvision:<Enum>.<NAME>``: torchvision weights, for initialisation (a partial load, reported).

A detectron2 or release layout is converted on load. A checkpoint must fit the model exactly: a model tensor
without a source, a source tensor left unused (other than the known buffers) or a shape that differs is a
``WeightsMismatch`` listing them, grouped. Nothing is ever loaded partially and silently.
"""

from __future__ import annotations

import logging
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models import get_weight

from ktn_utils.safe_pickle import safe_load

from .checkpoint_kind import variant_hint
from .detectron2_layout import CELL_ANCHORS, PIXEL_KEYS, Detectron2Names, from_detectron2, to_detectron2

TORCHVISION = "torchvision:"
ZOO = "zoo:"
BACKBONE_BODY = "backbone.body."
EXPORT_LAYOUTS = ("detectron2", "ktnv2")  # ktnv2: detectron2 names plus the release's buffers and aliases
# A stage-1 checkpoint (the release's R50-MIDv2-kpt.pth: keypoint R-CNN + MIDv2) starts KTN training: only these
# of our tensors may start fresh, and only its keypoint R-CNN head (original names) may go unused.
STAGE1_FRESH = ("roi_heads.densepose_head.", "roi_heads.densepose_predictor.")
STAGE1_UNUSED = ("roi_heads.keypoint_head.",)
# An HRNet ImageNet classifier initialises the HRFPN backbone's HRNet (training only); its classification head
# (incre_modules, downsamp_modules, final_layer, classifier) goes unused.
HRNET_IMAGENET, HRNET_BODY = "hrnet-imagenet", "backbone.bottom_up."
logger = logging.getLogger(__name__)


class WeightsMismatch(ValueError):
    """A checkpoint that does not fit the model (the message lists what and where)."""


def _group(name: str) -> str:
    """A name's group: its components up to the first numeric one (a block index), at most three otherwise."""
    parts = name.split(".")
    numeric = next((i for i, p in enumerate(parts) if p.isdigit()), None)
    return ".".join(parts[: numeric + 1 if numeric is not None else 3])


def _groups(names: list[str]) -> str:
    """Names grouped as ``group.* (count)``; a group of one whole name is printed as the name."""
    counts = Counter(_group(n) for n in names)
    return ", ".join(g if g in names and c == 1 else f"{g}.* ({c})" for g, c in sorted(counts.items()))


@dataclass
class LoadReport:
    """What ``load_weights`` did: names loaded, and (for a torchvision initialisation) the rest."""

    source: str
    layout: str
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]

    def summary(self) -> str:
        lines = [f"weights {self.source} ({self.layout} layout): loaded {len(self.loaded)} tensors"]
        for title, names in (("start fresh (not in the weights)", self.missing), ("not used", self.unexpected)):
            if names:
                lines.append(f"  {title}: {_groups(names)}")
        return "\n".join(lines)


def load_checkpoint(path: str | Path):
    """``torch.load`` without executing code (``weights_only``); a one-line error naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch raises several unrelated types for a corrupt file)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable checkpoint ({reason})") from None


def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """The state dict of a checkpoint file, whatever its format; ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if zipfile.is_zipfile(path):
        data = load_checkpoint(path)
    else:
        try:
            data = safe_load(path)
        except ValueError as e:
            raise ValueError(f"{path}: not a readable checkpoint (neither a torch file nor a plain pickle): "
                             f"{str(e).split(': ', 1)[-1]}") from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path}: expected a state dict, or a dict with one under 'model'")
    bad = [k for k, v in state.items() if not isinstance(v, (Tensor, np.ndarray))]
    if bad:
        raise ValueError(f"{path}: entries that are not arrays: {_groups(bad)}")
    return {k: torch.as_tensor(v) for k, v in state.items()}


def detect_layout(state: dict[str, Tensor], source: str) -> str:
    """"ktn" (this project, torchvision names), "detectron2" (detectron2 and the KTN release) or "hrnet-imagenet"
    (an HRNet ImageNet classifier: the official HRNet-Image-Classification / timm ``hrnet_w*`` names)."""
    if any(k.startswith(("backbone.body.", "rpn.")) for k in state):
        return "ktn"
    if any(k.startswith(("backbone.bottom_up.", "proposal_generator.")) for k in state):
        return "detectron2"
    if "conv1.weight" in state and any(k.startswith("stage4.") for k in state):
        return HRNET_IMAGENET
    raise ValueError(f"{source}: unknown checkpoint layout (first keys: {', '.join(list(state)[:3])})")


def _check_buffers(model: nn.Module, names: Detectron2Names, state: dict[str, Tensor], source: str) -> None:
    """The release's pixel / anchor buffers and second names (``names.aliases``) must agree with the model."""
    transform = model.transform
    expected = {"pixel_mean": transform.image_mean, "pixel_std": transform.image_std}
    for key in PIXEL_KEYS:
        if key in state and not np.allclose(state[key].flatten().tolist(), expected[key]):
            raise WeightsMismatch(f"{source}: {key} {state[key].flatten().tolist()} differs from the config's "
                                  f"MODEL.{key.upper()} {list(expected[key])}")
    cells = model.rpn.anchor_generator.cell_anchors
    for key in (k for k in state if k.startswith(CELL_ANCHORS)):
        level = int(key[len(CELL_ANCHORS):])
        if level >= len(cells) or not torch.allclose(state[key].float(), cells[level].cpu(), atol=1e-4):
            raise WeightsMismatch(f"{source}: {key} differs from the anchors of MODEL.ANCHOR_GENERATOR")
    for alias, name in names.aliases.items():
        for key in (k for k in state if k.startswith(alias)):
            twin = name + key[len(alias):]
            if twin not in state or not torch.equal(state[key], state[twin]):
                raise WeightsMismatch(f"{source}: {key} is not a copy of {twin}")


def convert_to_model(model: nn.Module, state: dict[str, Tensor], layout: str, source: str,
                     training: bool = False) -> tuple[dict[str, Tensor], list[str]]:
    """``state`` in ``layout`` -> (``model``'s tensors in its own names and layouts, the unused checkpoint names).

    WeightsMismatch unless it fits exactly, or, with ``training``, it is a stage-1 checkpoint: what is missing
    lies under ``STAGE1_FRESH`` and what is unused under ``STAGE1_UNUSED``.
    """
    own = model.state_dict()
    if layout == "detectron2":
        names = Detectron2Names(model)
        _check_buffers(model, names, state, source)
        theirs = {names(k): k for k in own}
        known = {k for k in state if k in PIXEL_KEYS or k.startswith((CELL_ANCHORS, *names.aliases))}
        state = {theirs.get(k, "?" + k): v for k, v in state.items() if k not in known}
        converted = {k: from_detectron2(k, v) for k, v in state.items() if not k.startswith("?")}
        unused = [k[1:] for k in state if k.startswith("?")]
    else:
        converted, unused = {k: v for k, v in state.items() if k in own}, [k for k in state if k not in own]
    missing = [k for k in own if k not in converted]
    blocks = tuple(p for p in STAGE1_FRESH if any(k.startswith(p) for k in missing))
    whole = sorted(k for k in own if k.startswith(blocks)) if blocks else []  # a stage-1 file lacks whole blocks
    stage1 = bool(missing) and sorted(missing) == whole and all(k.startswith(STAGE1_UNUSED) for k in unused)
    if stage1 and not training:
        raise WeightsMismatch(f"{source}: a stage-1 checkpoint (no DensePose {_groups(missing)}): it starts "
                              "training as MODEL.WEIGHTS; evaluation and inference need a trained model")
    left = [] if stage1 else unused
    missing = [] if stage1 else missing
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in converted.items()
              if tuple(v.shape) != tuple(own[k].shape)]
    problems = [variant_hint(missing, left),
                f"{len(missing)} model tensors have no source: {_groups(missing)}" if missing else "",
                f"{len(left)} checkpoint tensors are not used: {_groups(left)}" if left else "",
                f"{len(shapes)} shapes differ: {'; '.join(shapes[:4])}" if shapes else ""]
    if any(problems):
        raise WeightsMismatch(f"{source} does not fit this config ({layout} layout): "
                              + "; ".join(p for p in problems if p))
    return {k: v.to(own[k].dtype) for k, v in converted.items()}, unused


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


def _hrnet_imagenet(model: nn.Module, state: dict[str, Tensor], source: str,
                    training: bool) -> tuple[dict[str, Tensor], list[str]]:
    """An HRNet ImageNet classifier -> the HRNet of an HRFPN backbone, which must take every one of its tensors."""
    own = model.state_dict()
    body = [k for k in own if k.startswith(HRNET_BODY)]
    if not training or not body:
        raise WeightsMismatch(f"{source}: an HRNet ImageNet classifier initialises the HRNet of an HRFPN backbone "
                              "(MODEL.BACKBONE.NAME build_hrfpn_backbone) for training only")
    converted = {HRNET_BODY + k: v for k, v in state.items() if HRNET_BODY + k in own}
    missing = [k for k in body if k not in converted]
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in converted.items()
              if v.shape != own[k].shape]
    if missing or shapes:
        raise WeightsMismatch(f"{source} does not fit this HRNet ({HRNET_IMAGENET} layout): "
                              + "; ".join(p for p in (f"{len(missing)} HRNet tensors have no source: "
                                                      f"{_groups(missing)}" if missing else "",
                                                      f"{len(shapes)} shapes differ: {'; '.join(shapes[:4])}"
                                                      if shapes else "") if p))
    return {k: v.to(own[k].dtype) for k, v in converted.items()}, [k for k in state if HRNET_BODY + k not in own]


def load_weights(model: nn.Module, spec: str, training: bool = False) -> LoadReport:
    """Load ``spec`` ("" = keep the random init) into ``model``; the summary is logged.

    A checkpoint file must fit exactly (``WeightsMismatch`` otherwise), except a stage-1 checkpoint when
    ``training`` (``convert_to_model``): its DensePose head / predictor start fresh, as in the release.
    ``torchvision:`` weights initialise what they have (an ImageNet backbone). The summary lists what was not loaded.
    """
    if not spec:
        return LoadReport("(none)", "-", [], [], [])
    if spec.startswith(ZOO):  # a zoo model by name: its cached file (docs/pretrained.md, "Model zoo")
        from ktn_model.zoo.cache import checkpoint

        spec = str(checkpoint(spec))
    if spec.startswith(TORCHVISION):
        source, own = _torchvision_state_dict(spec[len(TORCHVISION):]), model.state_dict()
        matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(matched, strict=False)
        report = LoadReport(spec, "torchvision", sorted(matched), sorted(set(own) - set(matched)),
                            sorted(set(source) - set(matched)))
    else:
        state = read_checkpoint(spec)
        layout = detect_layout(state, spec)
        if layout == HRNET_IMAGENET:
            converted, unused = _hrnet_imagenet(model, state, spec, training)
        else:
            converted, unused = convert_to_model(model, state, layout, spec, training)
        model.load_state_dict(converted, strict=False)
        report = LoadReport(spec, layout, sorted(converted), sorted(set(model.state_dict()) - set(converted)),
                            sorted(unused))
    logger.info(report.summary())
    return report


def export_weights(model: nn.Module, layout: str) -> dict[str, Tensor]:
    """``model``'s tensors in the original code's names and layouts; ``layout`` is one of ``EXPORT_LAYOUTS``.

    "ktnv2" adds what the release's own state dict holds besides parameters: ``pixel_mean`` / ``pixel_std``,
    the RPN cell anchors and the second names of tensors it holds twice (``ScaleConv.*`` of ``ScaleConvs.*``).
    """
    if layout not in EXPORT_LAYOUTS:
        raise ValueError(f"layout must be one of {EXPORT_LAYOUTS}, got {layout!r}")
    names = Detectron2Names(model)
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        name = names(key)
        if name is None:
            raise ValueError(f"{key} has no counterpart in the {layout} layout")
        out[name] = to_detectron2(key, value).detach().cpu().clone()
    if layout == "ktnv2":
        transform = model.transform
        for key, values in zip(PIXEL_KEYS, (transform.image_mean, transform.image_std), strict=True):
            out[key] = torch.tensor(values, dtype=torch.float32).reshape(3, 1, 1)
        for level, cells in enumerate(model.rpn.anchor_generator.cell_anchors):
            out[f"{CELL_ANCHORS}{level}"] = cells.detach().cpu().clone()
        for alias, name in names.aliases.items():
            out.update({alias + k[len(name):]: v for k, v in list(out.items()) if k.startswith(name)})
    return out
