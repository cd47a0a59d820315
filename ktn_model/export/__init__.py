"""ktn_model.export: the whole detector as one ONNX or TorchScript graph (docs/export.md), and running it."""

from .exporter import FORMATS, export_model
from .runtime import load_exported

__all__ = ["FORMATS", "export_model", "load_exported"]
