"""``ktn convert``: write a checkpoint in the original code's layout (detectron2 .pkl or KTN-release .pth)."""

from __future__ import annotations

import pickle
from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_utils.atomic import atomic_write

FORMATS = {"detectron2": "a detectron2 model-zoo .pkl (numpy arrays)", "ktnv2": "a KTN-release .pth"}


def register(app: typer.Typer) -> None:
    """Add ``ktn convert`` to the `ktn` app."""
    app.command("convert")(convert)


@guarded
def convert(
    checkpoint: Path = typer.Argument(..., help="Weights in any supported layout (ours, detectron2, KTN release)."),
    to: str = typer.Option(..., "--to", help="detectron2 (a model-zoo style .pkl) or ktnv2 (a release .pth)."),
    out: Path = typer.Option(..., "--out", help="The file to write."),
    config_file: Path | None = typer.Option(
        None, "--config-file", help="Config of the model (default: config.yaml beside the checkpoint)."),
) -> None:
    """Convert weights to the original layout; reading the result back gives the same tensors.

    Exit codes: 0 done, 2 bad input (unknown layout, a checkpoint that does not fit the config), 130 interrupted.
    """
    import torch

    from ktn_model.engine.predictor import build_trained_model, load_config
    from ktn_model.modeling.weights import export_weights

    if to not in FORMATS:
        raise ValueError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    cfg = load_config(checkpoint, config_file, ["MODEL.DEVICE", "cpu"])
    state = export_weights(build_trained_model(cfg, checkpoint), to)
    if to == "detectron2":
        arrays = {k: v.numpy() for k, v in state.items()}
        atomic_write(out, lambda f: pickle.dump({"model": arrays, "__author__": "ktn convert"}, f, protocol=4))
    else:
        atomic_write(out, lambda f: torch.save({"model": state}, f))
    typer.echo(f"{checkpoint} -> {out}: {len(state)} tensors, {FORMATS[to]}")
