"""``ktn train``: train a configuration (or evaluate a checkpoint with ``--eval-only``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded

OVERRIDES_HELP = "Config overrides as KEY VALUE pairs, e.g. SOLVER.MAX_ITER 1000 MODEL.WEIGHTS model.pth."


def register(app: typer.Typer) -> None:
    """Add ``ktn train`` to the `ktn` app."""
    app.command("train", context_settings={"ignore_unknown_options": True})(train)


def overrides(opts: list[str] | None, graph: str | None) -> list[str]:
    """The KEY VALUE list with ``--graph`` folded in as MODEL.ROI_DENSEPOSE_HEAD.GRAPH."""
    opts = list(opts or [])
    if graph:
        opts += ["MODEL.ROI_DENSEPOSE_HEAD.GRAPH", graph]
    return opts


@guarded
def train(
    opts: list[str] | None = typer.Argument(None, metavar="[KEY VALUE]...", help=OVERRIDES_HELP),
    config_file: Path | None = typer.Option(None, "--config-file", help="YAML config (may name a _BASE_)."),
    graph: str | None = typer.Option(None, "--graph", help="CRKG graph file (sets MODEL.ROI_DENSEPOSE_HEAD.GRAPH)."),
    num_gpus: int = typer.Option(1, "--num-gpus", min=1, help="Local workers (one per GPU; gloo processes on CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in OUTPUT_DIR."),
    eval_only: bool = typer.Option(
        False, "--eval-only", help="Evaluate MODEL.WEIGHTS (with --resume: the newest checkpoint) and print GPS/GPSm."
    ),
) -> None:
    """Train KTN (SGD, warm-up + multi-step LR, checkpoints, periodic evaluation), on one or more workers."""
    from ktn_model.config import setup_cfg
    from ktn_model.engine import distributed
    from ktn_model.engine.runner import evaluate_worker, train_worker

    cfg = setup_cfg(config_file, overrides(opts, graph))
    if eval_only:
        evaluate_worker(cfg, resume)
        return
    try:
        distributed.launch(train_worker, num_gpus, distributed.device_type(cfg.MODEL.DEVICE), cfg, resume)
    except FloatingPointError as e:  # a NaN/inf loss (NonFiniteLossError), named with its iteration
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
