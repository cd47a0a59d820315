"""``export_model``: a trained KTN as one ONNX (opset ``OPSET``) or TorchScript file (docs/export.md).

Both are traces of ``TracedKTN`` on one example image, with the image's height and width dynamic. The file
carries the model's config (ONNX metadata ``ktn.config``, TorchScript extra file ``ktn_config.yaml``), so
``ktn infer --weights FILE`` needs nothing beside it. The export is checked on a second image of another
shape: the exported graph must give the detections of the PyTorch model (``Verification``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ktn_model.data.resize import shortest_edge_size
from ktn_model.modeling.ktn import KTN
from ktn_utils.atomic import atomic_write, check_output_file

from .formats import CONFIG_KEY, EXTRA_CONFIG, EXTRA_OUTPUTS, FORMATS, INPUT_NAME, ONNX_EXTRA, OPSET
from .graph import TracedKTN, example_image
from .runtime import load_exported

# (height, width) of the tracing and the verification images before the test resize: landscape, then portrait.
TRACE_SHAPE, VERIFY_SHAPE = (480, 640), (640, 480)


@dataclass
class Verification:
    """The exported graph against PyTorch on one image: detection counts and the largest differences."""

    shape: tuple[int, int]
    detections: tuple[int, int]  # (PyTorch, exported)
    box_diff: float
    score_diff: float

    def summary(self) -> str:
        h, w = self.shape
        return (f"checked on a {w}x{h} image: {self.detections[0]} detections in PyTorch, {self.detections[1]} "
                f"exported; boxes within {self.box_diff:.2g} px, scores within {self.score_diff:.2g}")


def input_size(cfg, shape: tuple[int, int]) -> tuple[int, int]:
    """The network's input size for an image of ``shape`` (the Predictor's resize rule)."""
    return shortest_edge_size(*shape, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)


def _onnx_bytes(traced: TracedKTN, image: torch.Tensor, config: str) -> bytes:
    import onnx

    buffer = io.BytesIO()
    torch.onnx.export(traced, (image,), buffer, dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
                      output_names=traced.names, dynamic_axes={INPUT_NAME: {1: "height", 2: "width"},
                                                               **{n: {0: "detections"} for n in traced.names}})
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, {CONFIG_KEY: config})
    return proto.SerializeToString()


def _torchscript_bytes(traced: TracedKTN, image: torch.Tensor, config: str) -> bytes:
    module = torch.jit.trace(traced, (image,), check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(module, buffer, _extra_files={EXTRA_CONFIG: config, EXTRA_OUTPUTS: json.dumps(traced.names)})
    return buffer.getvalue()


def export_model(model: KTN, cfg, out: str | Path, fmt: str, check: bool = True) -> Verification | None:
    """Trace ``model`` (on CPU) into ``out`` in format ``fmt`` (one of ``FORMATS``), written atomically, then
    (``check``) verify the written file on another image shape."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        raise ValueError(f"{out}: writing ONNX needs the onnx package ({ONNX_EXTRA})")
    check_output_file(out)
    traced = TracedKTN(model.cpu())
    image = example_image(*input_size(cfg, TRACE_SHAPE))
    write = _onnx_bytes if fmt == "onnx" else _torchscript_bytes
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every Python value it fixes (FPN level count, per-image loops, constant
        # checks); none depends on the image size or the detection count, which the verification confirms.
        warnings.simplefilter("ignore")
        data = write(traced, image, cfg.dump())
    atomic_write(out, lambda f: f.write(data))
    if not check:
        return None
    return verify(traced, load_exported(out)[1], input_size(cfg, VERIFY_SHAPE))


@torch.no_grad()
def verify(traced: TracedKTN, exported: torch.nn.Module, shape: tuple[int, int]) -> Verification:
    """Compare ``exported`` with the eager ``traced`` model on a seeded random image of ``shape``.

    Order-free, since near-equal scores (random weights) may be ranked differently: the box difference is the
    largest distance from a PyTorch box to its nearest exported one, the score difference is between the sorted
    score lists.
    """
    image = example_image(*shape, seed=1)
    expected = dict(zip(traced.names, traced(image), strict=True))
    (got,) = exported([image])
    counts = (len(expected["scores"]), len(got["scores"]))
    if counts[0] != counts[1] or not counts[0]:
        return Verification(shape, counts, float("nan"), float("nan"))
    distance = (expected["boxes"][:, None] - got["boxes"][None]).abs().amax(-1)  # (D, D) largest coordinate gap
    scores = (expected["scores"].sort().values - got["scores"].sort().values).abs().max()
    return Verification(shape, counts, float(distance.min(1).values.max()), float(scores))
