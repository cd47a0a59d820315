"""Shared CLI plumbing: the exit-code policy, one-line errors, ``--version``.

Exit codes (stated in every app's ``--help``): 0 success, 2 bad input (a file, option or config
value that cannot be used, reported as one ``error:`` line), 1 a run that started and failed (a
diverging training run), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

from ktn_utils.versions import package_version

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_CODES_HELP = (
    f"Exit codes: 0 success, {EXIT_BAD_INPUT} bad input (one 'error:' line), "
    f"{EXIT_RUN_FAILED} a run that failed (e.g. a diverging loss), {EXIT_INTERRUPTED} interrupted."
)

# Exceptions that mean "the user's input is wrong": reported as one line, never a traceback.
INPUT_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError)
# Exceptions that mean "the run started and failed" (NonFiniteLossError is a FloatingPointError).
RUN_FAILURES: tuple[type[BaseException], ...] = (FloatingPointError,)


def make_app(prog: str, help: str) -> typer.Typer:
    """A typer app with the project's settings, the exit-code policy in its help and ``--version``."""
    help = f"{help}\n\n{EXIT_CODES_HELP}"
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


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print ``error: message`` on stderr and exit with ``code`` (bad input by default)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn: Callable) -> Callable:
    """Apply the exit-code policy to a command: input errors -> 2, run failures -> 1, Ctrl-C -> 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except INPUT_ERRORS as e:
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            fail(str(message))
        except RUN_FAILURES as e:
            fail(str(e), EXIT_RUN_FAILED)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper
