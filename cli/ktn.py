"""``ktn``: the DensePose network: synthetic data, training, evaluation, inference, demo."""

from __future__ import annotations

import typer

from ktn_cli import data_cmd, demo_cmd, evaluate_cmd, infer_cmd, train_cmd
from ktn_cli.common import version_option

app = typer.Typer(
    help="KTN DensePose R-CNN (MID + KTM) on torchvision: train, evaluate, infer, make synthetic data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_option("ktn"), is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """KTN DensePose R-CNN (MID + KTM) on torchvision."""


app.add_typer(data_cmd.app, name="data")
train_cmd.register(app)
evaluate_cmd.register(app)
infer_cmd.register(app)
demo_cmd.register(app)


def main() -> None:
    app()
