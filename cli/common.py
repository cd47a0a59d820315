"""Shared CLI plumbing: one-line errors with exit code 2, ``--version``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

from ktn_kg.provenance import package_version

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2

# Exceptions that mean "the user's input is wrong": reported as one line, never a traceback.
INPUT_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError)


def make_app(prog: str, help: str) -> typer.Typer:
    """A typer app with the project's settings and a ``--version`` option printing ``prog VERSION``."""
    app = typer.Typer(help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

    def show_version(value: bool) -> None:
        if value:
            typer.echo(f"{prog} {package_version()}")
            raise typer.Exit()

    @app.callback(help=help)
    def _root(
        version: bool = typer.Option(False, "--version", callback=show_version, is_eager=True,
                                     help="Print the version and exit."),
    ) -> None:
        pass

    return app


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def guarded(fn: Callable) -> Callable:
    """Turn input errors raised by a command into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except INPUT_ERRORS as e:
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            fail(str(message))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper
