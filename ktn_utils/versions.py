"""The installed version of the project."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """Installed version of the ``ktn`` distribution ("0+unknown" in a bare source tree)."""
    try:
        return version("ktn")
    except PackageNotFoundError:
        return "0+unknown"
