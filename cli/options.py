"""The one range convention of every option, checked when the command line is parsed:
``error: --train-images 1: must be at least 2`` (exit 2), before any work starts; ``--threads``.

Torch-free and free of ``ktn_model``, so that ``ktn-kg`` uses it too and ``--help`` starts fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import typer

from ktn_cli.common import OptionError
from ktn_utils.machine import default_threads, usable_cpus

Limit = float | Callable[[], tuple[float, str]] | None  # a number, or () -> (number, why) computed when parsed


def check_range(option: str, value, low: Limit = None, high: Limit = None):
    """``value`` when finite and within [low, high], else a one-line usage error naming ``option`` and ``value``."""
    if value is None:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(f"{option} {value}: must be a finite number")
    for limit, word, outside in ((low, "least", value < _number(low)), (high, "most", value > _number(high))):
        if limit is not None and outside:
            why = f" ({limit()[1]})" if callable(limit) else ""
            raise OptionError(f"{option} {value}: must be at {word} {_number(limit)}{why}")
    return value


def _number(limit: Limit) -> float:
    if limit is None:
        return math.nan  # comparisons with NaN are False: no bound
    return limit()[0] if callable(limit) else limit


def ranged(default, *names: str, low: Limit = None, high: Limit = None, **kwargs):
    """A ``typer.Option`` whose value must lie in [low, high] (and be finite)."""

    def callback(param: typer.CallbackParam, value):
        return check_range(param.opts[0], value, low, high)

    return typer.Option(default, *names, callback=callback, **kwargs)


def choice(default, name: str, choices: tuple[str, ...] | Callable[[], tuple[str, ...]], **kwargs):
    """A ``typer.Option`` whose value must be one of ``choices`` (or of ``choices()``, asked when parsed)."""

    def callback(value):
        allowed = choices() if callable(choices) else choices
        if value is not None and value not in allowed:
            raise OptionError(f"{name} {value}: choose one of {', '.join(allowed)}")
        return value

    return typer.Option(default, name, callback=callback, **kwargs)


def machine_cpus() -> tuple[int, str]:
    return usable_cpus(), "the CPUs this process may use"


def threads_option(default: int | None = None):
    """``--threads``: torch (and onnxruntime) threads, at most the usable CPUs."""
    shown = f"default {default_threads()} here: half the usable CPUs, so that a shared machine is not oversubscribed"
    return ranged(default, "--threads", low=1, high=machine_cpus,
                  help=f"CPU threads ({shown if default is None else 'at most the usable CPUs'}).")


def split_overrides(items: list[str], key_pattern) -> tuple[list[str], list[str]]:
    """(inputs, KEY VALUE overrides) of a command taking both as arguments: the overrides start at the first
    config key (``MODEL.DEVICE``...). An unknown ``--option`` among the inputs is a usage error."""
    for k, item in enumerate(items):
        if key_pattern.fullmatch(item) and not Path(item).exists():
            return _inputs(items[:k]), items[k:]
    return _inputs(items), []


def _inputs(items: list[str]) -> list[str]:
    for item in items:
        if item.startswith("-") and not Path(item).exists():
            raise OptionError(f"no such option: {item}")
    return items
