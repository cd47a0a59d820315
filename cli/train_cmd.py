"""``ktn train``: train a configuration (or evaluate a checkpoint with ``--eval-only``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded
from ktn_cli.options import machine_cpus, ranged, threads_option

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
OPTS = typer.Argument(None, metavar="[KEY VALUE]...", help=OVERRIDES_HELP)
CONFIG_FILE = typer.Option(None, "--config-file", help="YAML config, a file or a shipped preset (may name a _BASE_).")
GRAPH = typer.Option(None, "--graph", help="CRKG graph file (sets MODEL.ROI_DENSEPOSE_HEAD.GRAPH).")
NUM_GPUS = ranged(1, "--num-gpus", low=1, high=machine_cpus, help="Local workers, >= 1 (one per GPU; gloo "
                  "processes on CPU, at most one per usable CPU).")
RESUME = typer.Option(False, "--resume", help=RESUME_HELP)
EVAL_ONLY = typer.Option(False, "--eval-only", help="Evaluate MODEL.WEIGHTS (with --resume: the newest checkpoint) "
                         "and print GPS/GPSm.")

THREADS = threads_option()

def register(app: typer.Typer) -> None:
    """Add ``ktn train`` to the `ktn` app (negative override values such as ``SOLVER.WARMUP_ITERS -1`` pass)."""
    app.command("train", context_settings={"ignore_unknown_options": True})(train)


def overrides(opts: list[str] | None, graph: str | None) -> list[str]:
    """The KEY VALUE list with ``--graph`` folded in as MODEL.ROI_DENSEPOSE_HEAD.GRAPH."""
    opts = list(opts or [])
    if graph:
        opts += ["MODEL.ROI_DENSEPOSE_HEAD.GRAPH", graph]
    return opts


@guarded
def train(opts: list[str] | None = OPTS, config_file: Path | None = CONFIG_FILE, graph: str | None = GRAPH,
          num_gpus: int = NUM_GPUS, resume: bool = RESUME, eval_only: bool = EVAL_ONLY,
          threads: int | None = THREADS) -> None:  # fmt: skip
    """Train KTN (SGD, warm-up + multi-step LR, checkpoints, periodic evaluation), on one or more workers.

    Inputs (the config's numbers, datasets, evaluation data, device, OUTPUT_DIR) are checked before the first
    iteration. A new run refuses an OUTPUT_DIR that holds checkpoints. A diverging loss exits with code 1.
    """
    from ktn_model.engine.runner import run_training

    run_training(config_file, overrides(opts, graph), num_gpus, resume, eval_only, threads)
