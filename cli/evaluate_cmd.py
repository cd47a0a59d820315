"""Placeholder: being written (see the issue that owns this command)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the `ktn` app."""
