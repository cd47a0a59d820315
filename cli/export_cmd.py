"""``ktn export``: a trained model as one ONNX or TorchScript graph (docs/export.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_cli.model_options import CONFIG_FILE
from ktn_cli.options import choice, threads_option

WEIGHTS = typer.Option(..., "--weights", help="Checkpoint: ours, a detectron2 model-zoo .pkl or a KTN-release .pth "
                       "(the format is detected from the content).")
OUT = typer.Option(..., "--out", help="File to write, e.g. model.onnx.")


def _formats() -> tuple[str, ...]:
    from ktn_model.export.formats import FORMATS  # asked when parsed: loading the app stays free of ktn_model.export

    return FORMATS


FORMAT = choice("onnx", "--format", _formats,
                help='onnx (written with the onnx package, run by onnxruntime: the onnx extra, pip install -e '
                '".\\[onnx]") or torchscript.')
OPTS = typer.Argument(None, metavar="[KEY VALUE]...", help="Config overrides applied before tracing, e.g. "
                      "MODEL.ROI_HEADS.SCORE_THRESH_TEST 0.5.")

THREADS = threads_option()

def register(app: typer.Typer) -> None:
    """Add ``ktn export`` to the `ktn` app (negative override values such as ``INPUT.MIN_SIZE_TEST -5`` pass)."""
    app.command("export", context_settings={"ignore_unknown_options": True})(export)


@guarded
def export(weights: Path = WEIGHTS, out: Path = OUT, fmt: str = FORMAT, config_file: Path | None = CONFIG_FILE,
           opts: list[str] | None = OPTS, threads: int | None = THREADS) -> None:  # fmt: skip
    """Trace the whole detector (normalisation and padding, backbone, RPN, box head, NMS, DensePose head with
    KTM's W_s) into one file with a dynamic image size; the resize before it and the post-processing after it
    stay in Python (`ktn infer --weights FILE` runs them). The file carries the config. The export is checked
    against PyTorch on a second image shape.
    """
    from ktn_model.api import export as export_checkpoint
    from ktn_model.threads import torch_threads

    with torch_threads(threads):
        verification = export_checkpoint(weights, out, fmt, config_file, list(opts or []))
    typer.echo(f"wrote {out} ({fmt}); {verification.summary()}")
