"""The metrics table of ``ktn evaluate`` and ``ktn train`` (rich), on stdout; no torch."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from ktn_model.evaluation.matching import METRIC_NAMES

REDIRECTED_WIDTH = 160
SECTIONS = {"densepose_gps": "GPS", "densepose_gpsm": "GPSm", "keypoints": "keypoints"}


def metrics_table(metrics: dict[str, dict[str, float]], title: str = "DensePose evaluation") -> Table:
    """A rich table: one row per section (GPS, GPSm, keypoints), the AP/AR columns ×100.

    A section named ``PREFIX/section`` (several test sets, or several result files) is shown as ``PREFIX GPS``.
    """
    table = Table(title=title)
    table.add_column("metric")
    for column in METRIC_NAMES:
        table.add_column(column, justify="right")
    for section, values in metrics.items():
        label = SECTIONS.get(section.rsplit("/", 1)[-1], section)
        prefix = section.rsplit("/", 1)[0] + " " if "/" in section else ""
        table.add_row(prefix + label, *(f"{values[c]:.2f}" if c in values else "-" for c in METRIC_NAMES))
    return table


def report_console() -> Console:
    """stdout, not wrapped at 80 columns when redirected to a file or pipe."""
    return Console(width=None if sys.stdout.isatty() else REDIRECTED_WIDTH, soft_wrap=True)


def print_metrics(metrics: dict[str, dict[str, float]], title: str = "DensePose evaluation") -> None:
    report_console().print(metrics_table(metrics, title))
