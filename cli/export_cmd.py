"""``ktn export``: a trained model as one ONNX or TorchScript graph (docs/export.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded


def register(app: typer.Typer) -> None:
    """Add ``ktn export`` to the `ktn` app."""
    app.command("export")(export)


@guarded
def export(
    weights: Path = typer.Option(..., "--weights", help="Checkpoint: ours, a detectron2 model-zoo .pkl or a "
                                 "KTN-release .pth (the format is detected from the content)."),
    out: Path = typer.Option(..., "--out", help="File to write, e.g. model.onnx."),
    fmt: str = typer.Option("onnx", "--format", help="onnx (run by onnxruntime: pip install -e \".[onnx]\") or "
                            "torchscript."),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="Config of the model, e.g. configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml "
        "(default: config.yaml beside the weights)."
    ),
    opts: list[str] = typer.Argument(None, help="Config overrides as KEY VALUE pairs (e.g. "
                                     "MODEL.ROI_HEADS.SCORE_THRESH_TEST 0.5), applied before tracing."),
) -> None:
    """Trace the whole detector (normalisation and padding, backbone, RPN, box head, NMS, DensePose head with
    KTM's W_s) into one file with a dynamic image size; the resize before it and the post-processing after it
    stay in Python (`ktn infer --weights FILE` runs them). The file carries the config. The export is checked
    against PyTorch on a second image shape.
    """
    from ktn_model.engine.predictor import build_trained_model, load_config
    from ktn_model.export import FORMATS, export_model

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    cfg = load_config(weights, config_file, ["MODEL.DEVICE", "cpu", *(opts or [])])
    verification = export_model(build_trained_model(cfg, weights), cfg, out, fmt)
    typer.echo(f"wrote {out} ({fmt}); {verification.summary()}")
