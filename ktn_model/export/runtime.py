"""Exported graphs behind KTN's eval interface (docs/export.md): ONNX through onnxruntime, or TorchScript.

``load_exported(path)`` -> (config, model); ``model(images)`` returns one raw detection dict per image, as
``KTN`` does, so ``Predictor`` and ``ktn infer`` post-process it with the same Python code.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from ktn_model.config import CfgNode, setup_cfg
from ktn_model.modeling import predictor_output_type

from .formats import CONFIG_KEY, EXTRA_CONFIG, EXTRA_OUTPUTS, INPUT_NAME, ONNX_EXTRA, ONNX_SUFFIX
from .graph import to_detection


class ExportedKTN(nn.Module):
    """``model(images)``: list of (3, H, W) float RGB in [0, 1] at the test size -> list of detection dicts.

    Subclasses run one image (``run``) and name the flat outputs (``names``); images run one after another.
    """

    names: list[str]
    output_type: type  # the predictor's output type, from the config the file carries

    def run(self, image: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def forward(self, images: list[Tensor]) -> list[dict]:
        return [to_detection(self.names, self.run(image.cpu()), self.output_type) for image in images]


class OnnxKTN(ExportedKTN):
    """An ONNX file on onnxruntime's CPU provider, with ``torch.get_num_threads()`` intra-op threads."""

    def __init__(self, path: str | Path):
        super().__init__()
        try:
            import onnxruntime
        except ImportError:
            raise ValueError(f"{path}: running ONNX models needs onnxruntime ({ONNX_EXTRA})") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types, e.g. for a truncated file
            raise ValueError(f"{path}: not a readable ONNX model ({e})") from None
        self.names = [o.name for o in self.session.get_outputs()]
        self.config = self.session.get_modelmeta().custom_metadata_map.get(CONFIG_KEY)

    def run(self, image: Tensor) -> list[Tensor]:
        return [torch.from_numpy(v) for v in self.session.run(None, {INPUT_NAME: image.numpy()})]


class TorchScriptKTN(ExportedKTN):
    """A TorchScript file written by ``export_model``."""

    def __init__(self, path: str | Path):
        super().__init__()
        extra = {EXTRA_CONFIG: "", EXTRA_OUTPUTS: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        self.names = json.loads(extra[EXTRA_OUTPUTS])
        self.config = extra[EXTRA_CONFIG].decode()

    def run(self, image: Tensor) -> list[Tensor]:
        return list(self.module(image))


def is_exported(path: str | Path) -> bool:
    """An ``.onnx`` file, or a TorchScript archive written by ``export_model`` (its extra files name it)."""
    path = Path(path)
    if path.suffix.lower() == ONNX_SUFFIX:
        return True
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith(f"/extra/{EXTRA_OUTPUTS}") for name in archive.namelist())


def load_exported(path: str | Path, opts: list[str] | None = None) -> tuple[CfgNode, ExportedKTN]:
    """(the config carried by the file with ``opts`` applied, the model) of an exported ONNX or TorchScript file.

    The graph is fixed: only options read outside it (``INPUT.*_TEST``, the DensePose post-processing) matter.
    """
    model = OnnxKTN(path) if Path(path).suffix.lower() == ONNX_SUFFIX else TorchScriptKTN(path)
    if not model.config:
        raise ValueError(f"{path}: no KTN config in the file (export it with `ktn export`)")
    cfg = setup_cfg(opts=opts, dumped=model.config)
    model.output_type = predictor_output_type(cfg)
    if cfg.TEST.DENSEPOSE_PRECISION != "float32":
        raise ValueError(f"{path}: an exported graph runs in float32 (TEST.DENSEPOSE_PRECISION "
                         f"{cfg.TEST.DENSEPOSE_PRECISION} needs the PyTorch checkpoint)")
    return cfg, model.eval()
