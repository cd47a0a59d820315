"""``ktn train``: train a configuration (or evaluate a checkpoint with ``--eval-only``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded

OVERRIDES_HELP = "Config overrides as KEY VALUE pairs, e.g. SOLVER.MAX_ITER 1000 MODEL.WEIGHTS model.pth."
# Kept in step with ktn_model.engine.runner.RESUMABLE_KEYS (a test compares them); not imported
# here so that `ktn train --help` does not load torch.
RESUMABLE_HELP = (
    "SOLVER.MAX_ITER, SOLVER.CHECKPOINT_PERIOD, SOLVER.MAX_TO_KEEP, SOLVER.LOG_PERIOD, TEST.EVAL_PERIOD, "
    "DATALOADER.NUM_WORKERS"
)
RESUME_HELP = (
    "Continue the run in OUTPUT_DIR from its newest checkpoint, with the run's saved config.yaml "
    "(--config-file only locates OUTPUT_DIR). Overrides may change only " + RESUMABLE_HELP + "; "
    "others must equal the saved values. An error when OUTPUT_DIR has no checkpoint."
)


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
    resume: bool = typer.Option(False, "--resume", help=RESUME_HELP),
    eval_only: bool = typer.Option(
        False, "--eval-only", help="Evaluate MODEL.WEIGHTS (with --resume: the newest checkpoint) and print GPS/GPSm."
    ),
) -> None:
    """Train KTN (SGD, warm-up + multi-step LR, checkpoints, periodic evaluation), on one or more workers.

    Inputs (datasets, evaluation data, device) are checked before the first iteration.

    A new run refuses an OUTPUT_DIR that holds checkpoints. A diverging loss exits with code 1.
    """
    from ktn_model.config import setup_cfg
    from ktn_model.engine import distributed
    from ktn_model.engine.runner import check_inputs, check_new_run, evaluate_worker, resume_cfg, train_worker

    opts = overrides(opts, graph)
    cfg = setup_cfg(config_file, opts)
    if eval_only:
        evaluate_worker(cfg, resume)
        return
    if resume:
        cfg = resume_cfg(cfg, opts)
    else:
        check_new_run(cfg)
    check_inputs(cfg, num_gpus)
    distributed.launch(train_worker, num_gpus, distributed.device_type(cfg.MODEL.DEVICE), cfg, resume)
