"""``ktn models``: detectron2's DensePose model zoo, usable as ``--weights zoo:NAME``."""

from __future__ import annotations

import typer

from ktn_cli.common import guarded


def register(app: typer.Typer) -> None:
    """Add ``ktn models`` to the `ktn` app."""
    app.command("models")(models)


@guarded
def models(
    task: str = typer.Option("", "--task", help="Only models whose task contains this: chart, confidence, CSE."),
) -> None:
    """List the zoo models (name, task, backbone, published AP, size, cached); `--weights zoo:NAME` downloads one
    into KTN_CACHE (default ~/.cache/ktn) and picks its preset.

    Exit codes: 0 done, 2 bad input.
    """
    from ktn_model.zoo.listing import models_table

    typer.echo(models_table(task))
