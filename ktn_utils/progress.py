"""Progress bars (rich, on stderr): training (iteration, ETA, it/s, learning rate, losses) and inference (images/s)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def format_losses(losses: dict[str, float]) -> str:
    """``loss_densepose_U=0.0123`` -> ``densepose_U 0.0123``, total first."""
    ordered = sorted(losses.items(), key=lambda kv: (kv[0] != "total_loss", kv[0]))
    return "  ".join(f"{name.removeprefix('loss_')} {value:.4g}" for name, value in ordered)


class _Bar:
    """A rich bar on stderr, live only on a terminal: ``label`` done/total, the bar, then ``columns``; a context
    manager that starts and stops it."""

    def __init__(self, label: str, columns: list, console: Console | None, **fields):
        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn(label), MofNCompleteColumn(), BarColumn(), *columns,
                                 console=self.console, disable=not self.console.is_terminal)
        self.task = self.progress.add_task(label, **fields)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()


class TrainProgress(_Bar):
    """A live bar at the bottom of a terminal (none when redirected), and a log line per update."""

    def __init__(self, total: int, start: int, console: Console | None = None):
        columns = [TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[stats]}")]
        super().__init__("iter", columns, console, total=total, completed=start, stats="")
        self.total = total

    def update(self, iteration: int, its_per_s: float, lr: float, losses: dict[str, float]) -> None:
        """Move the bar (it/s, lr, total loss) and log one line with every loss term above it."""
        stats = f"{its_per_s:.2f} it/s  lr {lr:.3g}"
        self.progress.update(self.task, completed=iteration, stats=f"{stats}  loss {losses['total_loss']:.4g}")
        self.console.print(f"iter {iteration}/{self.total}  {stats}  {format_losses(losses)}", soft_wrap=True)


class ImageProgress(_Bar):
    """``ktn infer``'s bar: images done of the total and the rate in images/s (none when not a terminal)."""

    def __init__(self, total: int, console: Console | None = None):
        columns = [TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn()]
        super().__init__("images", columns, console, total=total, rate="")

    def advance(self, count: int = 1) -> None:
        task = self.progress.tasks[0]
        done = task.completed + count
        rate = f"{done / task.elapsed:.2f} images/s" if task.elapsed else ""
        self.progress.update(self.task, completed=done, rate=rate)
