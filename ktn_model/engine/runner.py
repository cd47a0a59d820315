"""What ``ktn train`` runs: the checks before a run, the resume rules, and the per-worker entry points.

``check_inputs`` opens every file a run will need (datasets, evaluation data, UV symmetry tables)
and checks the device before anything is built, so a bad input fails in seconds, not after the last
iteration. ``resume_cfg`` restores a run's saved config; see ``docs/usage.md`` ("Resuming").
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ktn_model.config import setup_cfg
from ktn_model.data.catalog import build_dataset, resolve
from ktn_model.data.loader import SkippingLoader, build_train_dataset, build_train_loader
from ktn_model.data.transforms import build_uv_symmetry
from ktn_model.engine import distributed as comm
from ktn_model.engine.checkpoint import CONFIG_FILE, LAST_POINTER, Checkpointer
from ktn_model.engine.evaluator import evaluate_model, print_metrics
from ktn_model.engine.predictor import build_trained_model
from ktn_model.engine.rng import seed_all
from ktn_model.engine.trainer import Trainer
from ktn_model.evaluation.eval_data import PDIST_FILE, SUBDIV_FILE, TRANSFORM_FILE
from ktn_model.modeling import build_model, load_weights
from ktn_model.modeling.build import resolve_device

# Keys a resumed run may change: they alter neither the model, the data nor the schedule of the
# iterations already run (MAX_ITER may be raised to train longer; the data order does not depend
# on the number of loader workers).
RESUMABLE_KEYS = (
    "SOLVER.MAX_ITER",
    "SOLVER.CHECKPOINT_PERIOD",
    "SOLVER.MAX_TO_KEEP",
    "SOLVER.LOG_PERIOD",
    "TEST.EVAL_PERIOD",
    "DATALOADER.NUM_WORKERS",
)


def _value(cfg, key: str):
    return functools.reduce(lambda node, part: node[part], key.split("."), cfg)


def resume_cfg(cfg, opts: list[str]):
    """The saved config of the run in ``cfg.OUTPUT_DIR``, with the ``RESUMABLE_KEYS`` of ``opts`` applied.

    ``cfg`` (from ``--config-file`` and ``opts``) only locates the run (OUTPUT_DIR, which replaces the
    saved one: the folder may have been moved). Any other key of ``opts`` must equal its saved
    value. ``FileNotFoundError`` when there is nothing to resume.
    """
    out = Path(cfg.OUTPUT_DIR)
    if Checkpointer(out).latest() is None:
        raise FileNotFoundError(f"{out}: nothing to resume (no {LAST_POINTER}); run without --resume to start")
    saved_file = out / CONFIG_FILE
    if not saved_file.is_file():
        raise FileNotFoundError(f"{saved_file}: the run's config is missing, so it cannot be resumed")
    saved = setup_cfg(saved_file)
    pairs = list(zip(opts[0::2], opts[1::2], strict=True))
    safe = [x for key, value in pairs if key in RESUMABLE_KEYS for x in (key, value)]
    resumed = setup_cfg(saved_file, [*safe, "OUTPUT_DIR", str(out)])  # the run may have been moved
    requested = setup_cfg(saved_file, opts)
    for key, _ in pairs:
        if key not in RESUMABLE_KEYS and key != "OUTPUT_DIR" and _value(requested, key) != _value(saved, key):
            raise ValueError(
                f"{saved_file}: {key} is {_value(saved, key)!r}; a resumed run keeps it (only "
                f"{', '.join(RESUMABLE_KEYS)} may change); use a new OUTPUT_DIR to change it"
            )
    return resumed


def check_device(name: str, workers: int = 1) -> None:
    """A ValueError when MODEL.DEVICE names a device this machine lacks (e.g. cuda without a GPU)."""
    try:
        device = resolve_device(name)
    except RuntimeError as e:
        raise ValueError(f"MODEL.DEVICE {name!r}: not a device name ({str(e).splitlines()[0]})") from None
    if device.type != "cuda":
        return
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    needed = max(workers, (device.index or 0) + 1)
    if available < needed:
        raise ValueError(f"MODEL.DEVICE {name}: needs {needed} CUDA GPU(s), this machine has {available}; "
                         f"use MODEL.DEVICE cpu (or auto)")  # fmt: skip


def check_eval_data(directory: str | Path) -> None:
    """FileNotFoundError naming the first of the three official evaluation files missing from ``directory``."""
    for name in (SUBDIV_FILE, TRANSFORM_FILE, PDIST_FILE):
        if not (Path(directory) / name).is_file():
            raise FileNotFoundError(f"{Path(directory) / name}: evaluation-data file not found (TEST.EVAL_DATA_DIR; "
                                    f"docs/usage.md says where the official files come from)")  # fmt: skip


def check_inputs(cfg, workers: int = 1) -> None:
    """Fail before the first iteration on an input the run would need later (one-line errors).

    The device, every DATASETS.TRAIN set (files present), every DATASETS.TEST set (read and checked:
    it is only used after training) with TEST.EVAL_DATA_DIR, and INPUT.UV_SYMMETRY_FILE when flipping.
    """
    check_device(cfg.MODEL.DEVICE, workers)
    if not cfg.DATASETS.TRAIN:
        raise ValueError("DATASETS.TRAIN is empty: name at least one training set")
    for name in cfg.DATASETS.TRAIN:
        resolve(name, cfg.DATASETS.ROOT)
    for name in cfg.DATASETS.TEST:
        build_dataset(resolve(name, cfg.DATASETS.ROOT))
    if cfg.DATASETS.TEST:
        check_eval_data(cfg.TEST.EVAL_DATA_DIR)
    build_uv_symmetry(cfg)  # the flip tables, when INPUT.HFLIP_TRAIN is on
    if cfg.DATASETS.TRAIN_PSEUDO_LABELS:
        build_train_dataset(cfg)  # pseudo-labels made from other annotations are refused here


def check_new_run(cfg) -> None:
    """A fresh run must not write over another run's checkpoints and config."""
    latest = Checkpointer(cfg.OUTPUT_DIR).latest()
    if latest is not None:
        raise ValueError(f"{cfg.OUTPUT_DIR}: already holds a run (latest checkpoint {latest.name}); pass "
                         f"--resume to continue it or choose another OUTPUT_DIR")  # fmt: skip


def train_batches(cfg, start_iter: int) -> SkippingLoader:
    """This worker's training batches (SOLVER.IMS_PER_BATCH / world size images each) from ``start_iter``.

    The batch sampler is an explicitly seeded stream, so batch k depends on the seed alone and a resumed
    run starts the stream at its iteration.
    """
    return build_train_loader(cfg, comm.get_rank(), comm.get_world_size(), start_iter=start_iter)


def build_trainer(cfg) -> Trainer:
    """A trainer for ``cfg`` in this worker: seeded model, sharded train data, evaluation on DATASETS.TEST."""
    seed_all(cfg.SEED + comm.get_rank())
    model = build_model(cfg)
    evaluate_fn = functools.partial(evaluate_model, cfg) if cfg.DATASETS.TEST else None
    return Trainer(cfg, model, functools.partial(train_batches, cfg), evaluate_fn)


def train_worker(cfg, resume: bool) -> dict | None:
    """Train (continuing from the newest checkpoint with ``resume``); print and return the final metrics."""
    if comm.is_main_process() and torch.cuda.is_available() and comm.device_type(cfg.MODEL.DEVICE) == "cpu":
        print("note: MODEL.DEVICE is cpu although CUDA is available; set MODEL.DEVICE cuda (or auto) to use it")
    trainer = build_trainer(cfg)
    start = trainer.resume() if resume else None
    if start is None:
        report = load_weights(trainer.model, cfg.MODEL.WEIGHTS, training=True)
        if (report.missing or report.unexpected) and comm.is_main_process():
            print(report.summary())  # a stage-1 or torchvision start: what starts fresh
    elif trainer.iteration >= trainer.max_iter:
        if comm.is_main_process():
            print(f"nothing to resume: {start} is at iteration {trainer.iteration}, SOLVER.MAX_ITER is "
                  f"{trainer.max_iter} (raise SOLVER.MAX_ITER to train longer)")  # fmt: skip
        return None
    elif comm.is_main_process():
        print(f"resumed from {start} at iteration {trainer.iteration}")
    metrics = trainer.train()
    if metrics and comm.is_main_process():
        print_metrics(metrics, f"{cfg.OUTPUT_DIR} after {trainer.iteration} iterations")
    return metrics


def evaluate_worker(cfg, resume: bool) -> dict:
    """Evaluate MODEL.WEIGHTS (or, with ``resume``, the newest checkpoint in OUTPUT_DIR) and print the table."""
    check_device(cfg.MODEL.DEVICE)
    weights = Checkpointer(cfg.OUTPUT_DIR).latest() if resume else None
    weights = weights or cfg.MODEL.WEIGHTS
    if not weights:
        raise ValueError("--eval-only needs a checkpoint: give MODEL.WEIGHTS path/to/model.pth")
    metrics = evaluate_model(cfg, build_trained_model(cfg, weights))
    print_metrics(metrics, f"{weights}")
    return metrics
