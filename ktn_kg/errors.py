"""The one exception type of ``ktn_kg``: bad input, reported by the CLI as one line with exit code 2."""

from __future__ import annotations


class KGError(ValueError):
    """A user-facing input or format error; the message names the file and the problem."""
