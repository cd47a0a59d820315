"""``ktn-kg``: build, inspect and version the commonsense relation knowledge graphs (CRKG)."""

from __future__ import annotations

import typer

from ktn_cli.common import version_option

app = typer.Typer(
    help="Build, inspect, compare and export the CRKG matrices used by KTM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_option("ktn-kg"), is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Build, inspect, compare and export the CRKG matrices used by KTM."""


def main() -> None:
    app()
