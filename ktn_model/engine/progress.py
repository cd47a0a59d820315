"""The training progress bar: iteration, ETA, it/s, learning rate and the loss terms (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def format_losses(losses: dict[str, float]) -> str:
    """``loss_densepose_U=0.0123`` -> ``densepose_U 0.0123``, total first."""
    ordered = sorted(losses.items(), key=lambda kv: (kv[0] != "total_loss", kv[0]))
    return "  ".join(f"{name.removeprefix('loss_')} {value:.4g}" for name, value in ordered)


class TrainProgress:
    """A live bar on a terminal; a plain line per update otherwise (logs, CI)."""

    def __init__(self, total: int, start: int, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("iter"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
            disable=not self.console.is_terminal,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, stats="")
        self.total = total

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, iteration: int, its_per_s: float, lr: float, losses: dict[str, float]) -> None:
        stats = f"{its_per_s:.2f} it/s  lr {lr:.3g}  {format_losses(losses)}"
        self.progress.update(self.task, completed=iteration, stats=stats)
        if not self.console.is_terminal:
            self.console.print(f"iter {iteration}/{self.total}  {stats}", soft_wrap=True)
