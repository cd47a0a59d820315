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
from typer.core import TyperGroup

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


class OptionError(typer.BadParameter):
    """A command-line value out of range, already phrased as ``--option VALUE: problem``."""


class OneLineErrors(TyperGroup):
    """A typer group whose usage errors (an option out of range, a missing or unknown option, a value of the wrong
    type) are one ``error:`` line with exit code 2, like every other bad input, instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as e:  # typer's click exceptions
            if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as typer shows it
                e.show()
            else:
                typer.echo(f"error: {usage_problem(e)}", err=True)
            code = getattr(e, "exit_code", EXIT_BAD_INPUT)
        except typer.Abort:
            typer.echo("aborted", err=True)
            code = EXIT_INTERRUPTED
        sys.exit(code if isinstance(code, int) else 0)


def usage_problem(e: typer.TyperException) -> str:
    """The problem in one line, led by the option it is about (``--iterations: 'abc' is not a valid integer.``)."""
    if isinstance(e, OptionError):
        return e.message
    param = getattr(e, "param", None)
    if isinstance(e, typer.BadParameter) and e.message and param is not None and getattr(e, "param_hint", None) is None:
        name = param.opts[0] if getattr(param, "opts", None) else param.name
        return f"{name}: {' '.join(e.message.split())}"
    return " ".join(e.format_message().split())


def make_app(prog: str, help: str) -> typer.Typer:
    """A typer app with the project's settings, the exit-code policy in its help and ``--version``."""
    help = f"{help}\n\n{EXIT_CODES_HELP}"
    app = typer.Typer(help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      cls=OneLineErrors)

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
