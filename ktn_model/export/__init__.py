"""ktn_model.export: the whole detector as one ONNX or TorchScript graph (docs/export.md), and running it.

``formats`` (what a file is) is torch-free; ``export_model`` and ``load_exported`` load torch when first used,
so that a CLI can name the formats in its ``--help`` without importing torch.
"""

from .formats import FORMATS

__all__ = ["FORMATS", "export_model", "load_exported"]


def __getattr__(name: str):
    if name == "export_model":
        from .exporter import export_model

        return export_model
    if name == "load_exported":
        from .runtime import load_exported

        return load_exported
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
