"""``ktn convert``: write a checkpoint in the original code's layout (detectron2 .pkl or KTN-release .pth)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_cli.options import choice

# What each of ktn_model.modeling.weights.EXPORT_LAYOUTS writes (a test compares the names); torch-free for --help.
LAYOUTS = {"detectron2": "a detectron2 model-zoo .pkl (numpy arrays)", "ktnv2": "a KTN-release .pth"}
CHECKPOINT = typer.Argument(..., help="Weights in any supported layout (ours, detectron2, KTN release).")
TO = choice(..., "--to", tuple(LAYOUTS), help="detectron2 (a model-zoo style .pkl) or ktnv2 (a release .pth).")
OUT = typer.Option(..., "--out", help="The file to write.")
CONFIG_FILE = typer.Option(None, "--config-file", help="Config of the model: a file or a shipped preset (default: "
                           "config.yaml beside the checkpoint).")


def register(app: typer.Typer) -> None:
    """Add ``ktn convert`` to the `ktn` app."""
    app.command("convert")(convert)


@guarded
def convert(checkpoint: Path = CHECKPOINT, to: str = TO, out: Path = OUT,
            config_file: Path | None = CONFIG_FILE) -> None:  # fmt: skip
    """Convert weights to the original layout; reading the result back gives the same tensors.

    Exit codes: 0 done, 2 bad input (unknown layout, a checkpoint that does not fit the config), 130 interrupted.
    """
    from ktn_model.api import convert as convert_checkpoint

    count = convert_checkpoint(checkpoint, to, out, config_file)
    typer.echo(f"{checkpoint} -> {out}: {count} tensors, {LAYOUTS[to]}")
