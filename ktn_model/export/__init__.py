"""ktn_model.export: the whole detector as one ONNX or TorchScript graph (docs/export.md), and running it."""

from .exporter import export_model
from .formats import FORMATS
from .runtime import load_exported

__all__ = ["FORMATS", "export_model", "load_exported"]
